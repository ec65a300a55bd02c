"""Normalisation before classifying: the form of a comment that the models and word lists read.

People dodge filters with invisible characters ("n\u200bigger"), look-alike letters from other
scripts (Cyrillic "а" for Latin "a"), fancy Unicode letters ("𝐢𝐝𝐢𝐨𝐭"), digits and symbols for
letters ("n1gg@", "1d10t") and spaced or dotted letters ("f.a.g", "k i l l"). :func:`fold`
undoes these and keeps, for every character of the folded text, the index of the character of
the original it came from, so evidence (matched words, offsets) still points into the exact
words the commenter wrote.

Pure functions, no I/O. The folding, in order:

1. Unicode NFKC per character (fancy letters, full-width forms, ligatures to plain ones).
2. Removed: zero-width characters (U+200B-U+200D, U+2060, U+FEFF, soft hyphen U+00AD,
   U+180E), bidirectional controls (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and
   combining marks stacked on letters (Zalgo text).
3. Look-alikes (confusables) folded to Latin: the Cyrillic and Greek letters that look like
   Latin ones (a subset of Unicode's confusables list, lower and upper case).
4. Masked letters inside a word: ``0 1 3 4 5 7 @ $ !`` read as ``o i e a s t a s i`` when
   one of them (or one repeated) stands between letters with two letters on one side, or
   ``@``/``$`` ends a word after two letters ("n1gg@" -> "nigga", "sk00l" -> "skool");
   numbers stay as they are ("10am", "yr4", "Y5s", "covid19", "£5").
5. Letters spelled apart: three or more single letters joined by the same ``.``, ``-``,
   ``_`` or ``*``, or four or more joined by single spaces, are joined ("f.a.g" -> "fag").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_INVISIBLE = frozenset(
    [0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
     0xFEFF, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x061C]
)

#: Cyrillic and Greek letters that look like Latin ones (Unicode confusables, the common set).
CONFUSABLES: dict[str, str] = {
    # Cyrillic lower / upper
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ї": "I", "Ј": "J", "Ѕ": "S",
    # Greek lower / upper
    "α": "a", "ο": "o", "ρ": "p", "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}

#: Symbols read as letters inside a word (step 4).
LEET: dict[str, str] = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                        "$": "s", "!": "i"}

_WORDISH = re.compile(r"[^\s]+")
_SPELLED = re.compile(r"(?<![^\W\d_])([^\W\d_])(?:([.\-_*])[^\W\d_]){2,}(?![^\W\d_])")
_SPACED = re.compile(r"(?<![^\W\d_])[^\W\d_](?: [^\W\d_]){3,}(?![^\W\d_])")


@dataclass(frozen=True)
class Folded:
    """A folded text and where each of its characters came from.

    :ivar text: the folded text.
    :ivar offsets: ``offsets[i]`` is the index in the original text of the character that
        ``text[i]`` came from (``len(offsets) == len(text)``).
    :ivar original: the original text.
    """

    text: str
    offsets: tuple[int, ...]
    original: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span ``[start', end')`` covering folded span ``[start, end)``
        (``0 <= start <= end <= len(text)``)."""
        if start >= end:
            pos = self.offsets[start] if start < len(self.offsets) else len(self.original)
            return pos, pos
        return self.offsets[start], self.offsets[end - 1] + 1

    def original_of(self, start: int, end: int) -> str:
        """The original words behind folded span ``[start, end)``."""
        a, b = self.span(start, end)
        return self.original[a:b]


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def _changes(ch: str) -> bool:
    """Whether folding may change this (non-ASCII) character."""
    return (ord(ch) in _INVISIBLE or bool(unicodedata.combining(ch)) or ch in CONFUSABLES
            or unicodedata.normalize("NFKC", ch) != ch)


def _chars(text: str) -> tuple[list[str], list[int]]:
    out = list(text)
    offs = list(range(len(text)))
    if text.isascii() or not any(_changes(m.group()) for m in _NON_ASCII.finditer(text)):
        return out, offs
    # only the non-ASCII characters need work: rebuild around them
    out, offs = [], []
    last = 0
    for m in _NON_ASCII.finditer(text):
        i = m.start()
        if i > last:
            out.extend(text[last:i])
            offs.extend(range(last, i))
        last = i + 1
        ch = text[i]
        if ord(ch) in _INVISIBLE:
            continue
        if unicodedata.combining(ch) and out and out[-1].isalpha():
            continue
        for c in unicodedata.normalize("NFKC", ch):
            if unicodedata.combining(c) and out and out[-1].isalpha():
                continue
            out.append(CONFUSABLES.get(c, c))
            offs.append(i)
    if last < len(text):
        out.extend(text[last:])
        offs.extend(range(last, len(text)))
    return out, offs


_SCHOOL_YEAR = re.compile(r"(?i)(y|yr|year|ks|class|set)\d+[a-z]?s?")


_LEET_NEAR_LETTER = re.compile(r"[^\W\d_][013457@$!]|[013457@$!][^\W\d_]")


def _unleet(chars: list[str]) -> None:
    text = "".join(chars)
    if not _LEET_NEAR_LETTER.search(text):
        return
    done = -1
    for hit in _LEET_NEAR_LETTER.finditer(text):
        if hit.start() < done:
            continue
        start = hit.start()
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        m = _WORDISH.match(text, start)
        if m is None:
            continue
        done = m.end()
        word = m.group(0)
        if sum(c.isalpha() for c in word) < 2 or not any(c in LEET for c in word) or _SCHOOL_YEAR.fullmatch(word):
            continue
        # A run of masking symbols maps when it is one symbol (or one repeated: "00") and
        # stands inside the word's letters with two letters on one side ("n1gg", "sk00l",
        # "b!tch"), or is a final "@" or "$" after two letters ("n1gg@"). Numbers stay:
        # "10am", "yr4", "covid19", "Y5s", "1-0".
        n = len(word)
        k = 0
        while k < n:
            if word[k] not in LEET:
                k += 1
                continue
            e = k
            while e < n and word[e] in LEET:
                e += 1
            run = word[k:e]
            left = 0
            while k - left - 1 >= 0 and word[k - left - 1].isalpha():
                left += 1
            right = 0
            while e + right < n and word[e + right].isalpha():
                right += 1
            inside = left >= 1 and right >= 1 and (left >= 2 or right >= 2)
            final = right == 0 and e == n and left >= 2 and set(run) <= {"@", "$"}
            if len(set(run)) == 1 and (inside or final):
                for j in range(k, e):
                    chars[m.start() + j] = LEET[word[j]]
            k = e


def _join(chars: list[str], offs: list[int]) -> tuple[list[str], list[int]]:
    text = "".join(chars)
    drop = set()
    for rx in (_SPELLED, _SPACED):
        for m in rx.finditer(text):
            seg = m.group(0)
            if rx is _SPELLED:
                seps = {c for c in seg[1::2]}
                if len(seps) != 1:
                    continue
            for k in range(1, len(seg), 2):
                drop.add(m.start() + k)
    if not drop:
        return chars, offs
    keep = [k for k in range(len(chars)) if k not in drop]
    return [chars[k] for k in keep], [offs[k] for k in keep]


def fold(text: str) -> Folded:
    """Fold ``text`` for classification (see the module docstring).

    :returns: a :class:`Folded` with the folded text and the offsets into ``text``. Text
        that needs no folding comes back unchanged (``folded.text == text``).
    """
    chars, offs = _chars(text)
    _unleet(chars)
    chars, offs = _join(chars, offs)
    return Folded("".join(chars), tuple(offs), text)
