"""Policy lexicons: the words and patterns the categoriser uses, kept as data.

The package ships TOML files in ``classifiers/policy/lexicons/``; a school extends them
with ``[policy] lexicon_files = ["local-slang.toml"]`` and/or an inline ``[policy.lexicon]``
table of the same shape. Everything is merged (lists are concatenated), shipped files
first. No school's names are in the shipped files: staff, school name and aliases come
from ``[[staff]]`` and ``[school]`` in the config.

Lexicon TOML format
-------------------
A lexicon file holds *sections*; each section is a table with up to two lists::

    [insult]                      # section name (see the table below)
    words = ["prat", "useless cow", "waste of space"]
    patterns = ['couldn.?t organi[sz]e a p\\S*ss up']

* ``words``: plain words or phrases. Matched case-insensitively on whole words; spaces
  match any run of whitespace; an apostrophe is optional (``cant`` matches ``can't``); a
  trailing ``s``/``es``/``'s`` is allowed; and letters other than the first and last may
  be masked with ``* # @ $ % ! . _ -`` in the sections ``slur``, ``insult``,
  ``identity_hostility``, ``threat`` and ``mockery`` (so ``paki`` also matches ``p*ki``,
  ``faggot`` matches ``f****t``).
* ``patterns``: Python regular expressions (:mod:`re` syntax, write them as TOML
  literal strings in single quotes), matched case-insensitively on the comment text after
  normalisation (lower case, curly quotes made straight, accents removed: ``ț`` -> ``t``,
  ``ł`` -> ``l``). In ``staff_act`` / ``pupil_act`` a pattern may mark the act itself
  with a group named ``act`` (``(?P<act>gave him) ... allerg``): whoever is named just
  before the act is taken as its doer.

A school's config adds to these (all lists are appended to the shipped ones)::

    [policy]
    lexicon_files = ["local-words.toml"]     # same format as the shipped files

    [policy.lexicon.insult]                  # inline, same format
    words = ["gowk", "mardy cow"]

    [policy.lexicon.role_headteacher]        # local names for the head
    words = ["the gaffer"]

Staff nicknames go with the person: ``[[staff]] ... nicknames = ["Maggie T"]``.

Spellings: a ``[spelling]`` table maps a word to the other ways people write it
(text-speak and dialect), and every ``words`` entry and every pattern of every file, the
school's included, then also matches those spellings wherever the word stands whole::

    [spelling]
    should = ["shud", "shd"]                 # "someone should" also matches "sumone shud"
    "i'll" = ["ar'll", "ah'll"]               # Black Country, Yorkshire

In a pattern, a word stands whole when it is a literal run of letters (an apostrophe
written ``'`` or ``'?``) between ``\\b``, ``(``, ``|``, ``)``, a space or ``\\s`` and the ends,
with no quantifier on its last letter; it is replaced by a group of all its spellings.

A section may also be a plain list, taken as ``words``. Unknown sections are refused
(:class:`LexiconError`), so a typo in a school's file does not silently do nothing.

Sections
--------
========================  ==============================================================
``titles``                courtesy titles before a surname (``mrs``, ``miss``, ``pani``)
``common_words``          words that are also surnames (``hope``, ``bell``): a roster
                          surname in this list is only matched with a title, a possessive
                          or a capital letter not at the start of a sentence
``staff_role``            staff by role (``the head``, ``dinner ladies``, ``the office``)
``role_<config role>``    words naming the holder of one configured ``role`` (e.g.
                          ``role_headteacher = ["the head", "headteacher"]``) so the
                          evidence can name the person
``not_staff``             guards that cancel a staff-role match (``head lice``,
                          ``hit his head``)
``pupil``                 pupils of the school (``the kids``, ``year 6``, ``that lad``)
``own_child``             the writer's own child (``my son``, ``our little one``)
``school``                the school as an institution (``this school``, ``the trust``)
``other_school``          other schools and their pupils (``st mark's``, ``other school``)
``parent``                other parents and adults (``you lot``, ``his mum``)
``insult``                insults, name-calling and demeaning remarks about a person
``mockery``               mockery or sarcasm aimed at a person (needs a target)
``complaint``             dissatisfaction with a service, decision or conduct
``unmet``                 an unmet expectation (``never replies``, ``didn't grit the
                          path``, ``was a bit short with me``): a complaint only when
                          its nearest target is staff or the school
``staff_act``             harmful or improper acts (grabbed, shouted at, fiddling)
``pupil_act``             wrongdoing by pupils (bullying, stealing, vaping)
``harm_sign``             signs of harm to a child (``scared of him``, ``bruise``)
``care_act``              acts done to a child that, at school, only staff do (restrained,
                          locked in a room, left behind on a trip, put in isolation): staff
                          are the implied doer when the comment names no other
``peer_act``              acts done to a child that, at school, are by default other pupils'
                          (bullied, bitten): pupils are the implied doer when no staff are named
``hedge``                 hedged insinuation (``not saying``, ``is it true``)
``second_hand``           a named source passing a claim on (``a friend who works
                          there said``, ``heard from another mum``): asserted, so
                          defamatory even when the writer also hedges (not a question)
``assertion``             claims presented as fact or passed on (``everyone knows``)
``branding``              branding words for a person (``thief``, ``drunk``, ``fraud``)
``school_wrong``          wrongdoing by the institution (``cover up``, ``off-rolling``)
``defence``               defending staff/denying a claim (``nobody is saying``)
``threat``                threats, incitement and literal wishes of harm
``idiom``                 violent-sounding idioms that are not threats (removed first)
``own_child_hyperbole``   ``i'll kill him`` style lines, not threats when said of one's own
                          child
``slur``                  slurs (race, ethnicity, religion, sexuality, gender identity)
``identity_hostility``    hostility based on identity without a slur (``send them back``)
``identity_term``         identity words (used with the ``identity_attack`` score)
``reporting``             quoting to report (``called my son a``, ``reported``)
``image_ref``             text saying an attached image shows a member of staff
``image_object``          things a photo shows that are not a person (car, letter)
``praise``                praise words (guards score-only offensive decisions)
========================  ==============================================================
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (Ubuntu 22.04): the same parser, as the tomli package
    import tomli as tomllib

from monitor.config import ConfigError

SECTIONS: tuple[str, ...] = (
    "titles", "common_words", "staff_role", "not_staff", "pupil", "own_child", "school",
    "other_school", "parent", "insult", "mockery", "complaint", "unmet", "staff_act", "pupil_act",
    "harm_sign", "care_act", "peer_act", "hedge", "second_hand", "assertion", "branding", "school_wrong", "defence", "threat",
    "idiom", "own_child_hyperbole", "slur", "identity_hostility", "identity_term",
    "reporting", "image_ref", "image_object", "praise",
)
_MASK = r"[*#@$%!._\-]"
#: Sections whose ``words`` also match masked spellings (``sh*t``, ``p*ki``).
MASKED_SECTIONS = frozenset({"slur", "insult", "identity_hostility", "threat", "mockery"})


#: Letters NFKD does not decompose (Polish ł, Scandinavian ø...).
_FOLD = {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "æ": "a", "œ": "o"}


class LexiconError(ConfigError):
    """A lexicon file or inline table is malformed; the message names the source, the
    section and the entry. A :class:`~monitor.config.ConfigError`, so the CLI prints it
    and exits 2 like any other config problem."""

    def __init__(self, message: str):
        super().__init__([message])


def normalise(text: str) -> str:
    """Lower-case ``text``, straighten quotes and strip accents, keeping its length, so
    offsets in the result are offsets in the original.

    >>> normalise("Doamna ȚIPĂ’s")
    "doamna tipa's"
    """
    out = []
    for ch in text:
        if ch in "\u2018\u2019\u02bc\u0060\u00b4":
            out.append("'")
            continue
        if ch in "\u201c\u201d\u201e":
            out.append('"')
            continue
        low = ch.lower()
        if len(low) != 1:
            low = ch
        low = _FOLD.get(low, low)
        if not low.isascii():
            base = unicodedata.normalize("NFKD", low)[0]
            if base.isascii() and base.isalpha():
                low = base
        out.append(low)
    return "".join(out)


#: how many leading characters of a word the start-of-word index keeps
_KEY_LEN = 5
#: a masked spelling somewhere in the text ("c*w", "p.ki"): a letter, mask characters,
#: something else
_MASKING = re.compile(r"\w[*#@$%!._\-]+\S")
_TOKEN = re.compile(r"\w+")


def _word_start_keys(rx_text: str) -> tuple[str, ...] | None:
    """Keys for a cheap pre-test of a regex: when every match of ``rx_text`` starts a
    word (``\\b``, ``(?<!\\w)`` or ``(?<![\\w*])`` first) with one of a few literal
    prefixes, the first :data:`_KEY_LEN` word characters of each prefix; None when that
    cannot be told (the regex is then always run)."""
    if sys.version_info >= (3, 11):  # the stdlib's own regex parser
        from re import _constants as C, _parser  # noqa: PLC0415
    else:  # Python 3.10: the same parser under its old names
        import sre_constants as C  # noqa: PLC0415
        import sre_parse as _parser  # noqa: PLC0415

    try:
        seq = list(_parser.parse(rx_text, re.IGNORECASE))
    except re.error:
        return None
    def no_word_before(node) -> bool:  # (?<!\w) or (?<![\w*])
        op, arg = node
        if op is not C.ASSERT_NOT or arg[0] != -1:
            return False
        body = list(arg[1])
        return len(body) == 1 and body[0][0] is C.IN and (C.CATEGORY, C.CATEGORY_WORD) in body[0][1]

    starts_word = False
    while seq and (seq[0][0] is C.AT and seq[0][1] is C.AT_BOUNDARY or no_word_before(seq[0])):
        starts_word = True
        seq = seq[1:]
    if not starts_word:
        return None

    def prefixes(items) -> set[str] | None:
        lit = ""
        for op, arg in items:
            if op is not C.LITERAL:
                break
            lit += chr(arg)
        if lit:
            return {lit}
        if not items:
            return None
        op, arg = items[0]
        if op is C.SUBPATTERN:
            return prefixes(list(arg[3]))
        if op is C.BRANCH:
            out: set[str] = set()
            for alt in arg[1]:
                sub = prefixes(list(alt))
                if sub is None:
                    return None
                out |= sub
            return out
        return None

    found = prefixes(seq)
    if not found:
        return None
    keys = set()
    for p in found:
        m = _TOKEN.match(p.lower())
        if not m:
            return None
        keys.add(m.group()[:_KEY_LEN])
    return tuple(sorted(keys))


class _TextIndex:
    """The word starts of a text (every prefix up to :data:`_KEY_LEN` characters of
    every distinct word) and whether it holds a masked spelling: built in one O(n) pass
    and kept for the last few texts, so the ~30 section scans of one comment share it."""

    def __init__(self) -> None:
        self._cache: list[tuple[str, frozenset[str], bool]] = []

    def get(self, norm: str) -> tuple[frozenset[str], bool]:
        for text, keys, masking in self._cache:
            if text is norm:
                return keys, masking
        words = set(_TOKEN.findall(norm))
        keys = frozenset(w[:k] for w in words for k in range(1, min(len(w), _KEY_LEN) + 1))
        masking = _MASKING.search(norm) is not None
        self._cache = [(norm, keys, masking), *self._cache[:3]]
        return keys, masking


_TEXT_INDEX = _TextIndex()


def _word_source(tok: str) -> str:
    """A plain word as regex source, its apostrophes optional."""
    return "".join("'?" if ch == "'" else re.escape(ch) for ch in tok)


class _Speller:
    """Rewrites regex source so whole-word literals of the ``spellings`` keys also match
    their other spellings (see :func:`expand_spellings`). Built once per set of spellings."""

    def __init__(self, spellings: Mapping[str, Iterable[str]]):
        self.forms: dict[str, str] = {}
        for word, variants in spellings.items():
            group = "(?:" + "|".join(dict.fromkeys(_word_source(w) for w in (word, *variants))) + ")"
            self.forms[word] = group
            if "'" in word:
                self.forms[_word_source(word)] = group
        alternation = "|".join(re.escape(k) for k in sorted(self.forms, key=len, reverse=True))
        self.rx = re.compile(
            rf"(?:(?<=\\b)|(?<=\\s)|(?<=\\s[+*?])|(?<=\)[+*?])|(?<=[(|) ])|(?<=\?:)|^)({alternation})"
            rf"(?=$|[)| ]|\\(?![dwDWSsbB])|\\[bsW])") if self.forms else None

    def expand(self, rx_text: str) -> str:
        """``rx_text`` with each whole-word key replaced by the group of its spellings,
        except inside a character class."""
        if self.rx is None:
            return rx_text
        classes = _class_spans(rx_text)
        return self.rx.sub(
            lambda m: m.group(0) if any(a < m.start() < b for a, b in classes) else self.forms[m.group(1)],
            rx_text)


def expand_spellings(rx_text: str, spellings: Mapping[str, Iterable[str]]) -> str:
    """``rx_text`` with every whole-word literal occurrence of a ``spellings`` key (written
    plainly or with ``'?`` for its apostrophes) replaced by a non-capturing group of the
    key and its spellings. Occurrences inside a character class, after a backslash or
    under a quantifier are left alone (see the module docstring)."""
    return _Speller(spellings).expand(rx_text)


def _class_spans(rx_text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each character class ``[...]`` in regex source (escapes skipped)."""
    spans, start, i = [], None, 0
    while i < len(rx_text):
        ch = rx_text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[" and start is None:
            start = i
        elif ch == "]" and start is not None:
            spans.append((start, i))
            start = None
        i += 1
    return spans


def word_regex(phrase: str, masked: bool = False, spellings: Mapping[str, Iterable[str]] | None = None) -> str:
    """The regex a ``words`` entry compiles to (see the module docstring); ``masked``
    lets inner letters be replaced by masking characters; a token that is a key of
    ``spellings`` also matches its other spellings."""
    phrase = normalise(phrase.strip())
    tokens = phrase.split()
    parts = []
    for tok in tokens:
        if spellings and tok in spellings:
            parts.append("(?:" + "|".join(dict.fromkeys(_word_source(w) for w in (tok, *spellings[tok]))) + ")")
            continue
        chars = []
        for i, ch in enumerate(tok):
            if ch == "'":
                chars.append("'?")
            elif masked and ch.isalpha() and 0 < i < len(tok) - 1:
                chars.append(f"(?:{re.escape(ch)}|{_MASK}+)")
            else:
                chars.append(re.escape(ch))
        parts.append("".join(chars))
    body = r"\s+".join(parts)
    return rf"(?<![\w*]){body}(?:'?s|es)?(?![\w*])"


@dataclass
class Section:
    """One section: its compiled regexes, each with the source entry (for evidence)."""

    name: str
    entries: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    #: per entry, ``(keys, keys_when_masked)``: the word starts one of which every match
    #: begins with (None: unknown, always run the regex); the second applies when the
    #: text holds a masked spelling. A set look-up skips most entries for most texts, so
    #: a scan costs O(text) once, not O(text) per entry.
    keys: list[tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = field(default_factory=list)

    def finditer(self, norm: str) -> Iterator[tuple[str, re.Match[str]]]:
        """All matches in normalised text as ``(entry, match)``."""
        starts, masking = _TEXT_INDEX.get(norm)
        for (entry, rx), (plain, masked) in zip(self.entries, self.keys):
            keys = masked if masking else plain
            if keys is not None and not any(k in starts for k in keys):
                continue
            for m in rx.finditer(norm):
                if m.end() > m.start():
                    yield entry, m

    def search(self, norm: str) -> tuple[str, re.Match[str]] | None:
        """The first entry that matches (in entry order), or None."""
        for entry, rx in self.entries:
            m = rx.search(norm)
            if m and m.end() > m.start():
                return entry, m
        return None

    def words(self) -> list[str]:
        """The plain entries (used for ``titles`` and ``common_words``)."""
        return [e for e, _ in self.entries]


class Lexicon:
    """All sections, merged from the shipped files and the school's extensions.

    Build with :func:`load_lexicon`. ``lexicon[name]`` is a :class:`Section` (empty when
    no file defines it).
    """

    def __init__(self) -> None:
        self.sections: dict[str, Section] = {name: Section(name) for name in SECTIONS}
        self.raw_words: dict[str, list[str]] = {name: [] for name in SECTIONS}
        self.sources: list[str] = []
        #: ``{word: [other spellings]}`` from every ``[spelling]`` table (see the module
        #: docstring); set by :func:`load_lexicon` before any section is added.
        self.spellings: dict[str, list[str]] = {}
        self._speller: _Speller | None = None

    def add_spellings(self, data: Mapping[str, Any], source: str) -> None:
        """Merge the ``[spelling]`` table of one parsed lexicon file, if any.

        :raises LexiconError: not a table of word -> list of spellings (names ``source``).
        """
        table = data.get("spelling")
        if table is None:
            return
        if not isinstance(table, Mapping) or not all(
                isinstance(v, list) and all(isinstance(x, str) and x.strip() and " " not in x.strip() for x in v)
                for v in table.values()):
            raise LexiconError(f"{source}: [spelling] must map a word to a list of one-word spellings")
        for word, variants in table.items():
            key = normalise(word.strip())
            if not key or " " in key:
                raise LexiconError(f"{source}: [spelling] key {word!r} must be one word")
            known = self.spellings.setdefault(key, [])
            known.extend(v for v in (normalise(x.strip()) for x in variants) if v not in known and v != key)
        self._speller = None

    def __getitem__(self, name: str) -> Section:
        return self.sections[name]

    def role_sections(self) -> dict[str, Section]:
        """``{config role: section}`` for every ``role_<config role>`` section."""
        return {n[5:]: s for n, s in self.sections.items() if n.startswith("role_")}

    def add(self, data: Mapping[str, Any], source: str) -> None:
        """Merge one parsed lexicon table.

        :raises LexiconError: unknown section, wrong types or a bad regular expression,
            naming ``source``, the section and the entry.
        """
        for name, value in data.items():
            if name in ("meta", "description", "spelling"):
                continue
            if name not in self.sections and name.startswith("role_") and len(name) > 5:
                self.sections[name] = Section(name)
                self.raw_words[name] = []
            if name not in self.sections:
                raise LexiconError(
                    f"{source}: unknown lexicon section [{name}] (known: {', '.join(SECTIONS)})")
            if isinstance(value, list):
                value = {"words": value}
            if not isinstance(value, Mapping):
                raise LexiconError(f"{source}: [{name}] must be a table with words/patterns or a list")
            for kind in value:
                if kind not in ("words", "patterns", "description"):
                    raise LexiconError(f"{source}: [{name}] unknown key {kind!r} (expected words, patterns)")
            for kind in ("words", "patterns"):
                items = value.get(kind, [])
                if not isinstance(items, list) or not all(isinstance(x, str) and x.strip() for x in items):
                    raise LexiconError(f"{source}: [{name}].{kind} must be a list of non-empty strings")
                for item in items:
                    if kind == "words":
                        self.raw_words[name].append(normalise(item.strip()))
                        rx_text = word_regex(item, masked=name in MASKED_SECTIONS, spellings=self.spellings)
                    else:
                        if self._speller is None:
                            self._speller = _Speller(self.spellings)
                        rx_text = self._speller.expand(item)
                    try:
                        rx = re.compile(rx_text, re.IGNORECASE)
                    except re.error as exc:
                        raise LexiconError(f"{source}: [{name}].{kind} {item!r}: bad regular expression: {exc}") from None
                    self.sections[name].entries.append((item, rx))
                    if kind == "words":
                        plain = _word_start_keys(word_regex(item, masked=False, spellings=self.spellings))
                        self.sections[name].keys.append((plain, _word_start_keys(rx_text)))
                    else:
                        keys = _word_start_keys(rx_text)
                        self.sections[name].keys.append((keys, keys))
        self.sources.append(source)


def shipped_files() -> list[Path]:
    """The lexicon files shipped in the package, in load order (sorted by name)."""
    base = resources.files("classifiers.policy") / "lexicons"
    return sorted((Path(str(p)) for p in base.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)


def load_lexicon(extra_files: Iterable[str] = (), inline: Mapping[str, Any] | None = None) -> Lexicon:
    """Load the shipped lexicons, then ``extra_files`` (paths), then ``inline``.

    :raises LexiconError: a file is missing, not TOML, or malformed (message names it).
    """
    lex = Lexicon()
    parsed: list[tuple[Mapping[str, Any], str]] = []
    for path in [*shipped_files(), *(Path(f) for f in extra_files)]:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LexiconError(f"{path}: cannot read lexicon file: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise LexiconError(f"{path}: not valid TOML: {exc}") from None
        parsed.append((data, str(path)))
    if inline:
        parsed.append((inline, "[policy.lexicon]"))
    for data, source in parsed:  # spellings first: they apply to every file's entries
        lex.add_spellings(data, source)
    for data, source in parsed:
        lex.add(data, source)
    return lex
