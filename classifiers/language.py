"""Language detection, and the rule that decides whether a scorer can read a comment.

Detection uses lingua-language-detector (offline, statistical n-gram models shipped in
the wheel; https://github.com/pemistahl/lingua-py, 2.x API ``LanguageDetectorBuilder``).
It is restricted to English plus the languages UK school communities commonly write in
(:data:`DEFAULT_LANGUAGES`) and runs in lingua's low-accuracy mode (trigram models only):
about 30 MB of memory instead of about 400 MB for the high-accuracy models of the same
languages, and about 0.1 ms per comment.

Low-accuracy lingua misjudges some very short English comments ("Well done 2F!" as
German), and no detector has a model of Urdu or Punjabi written in Latin script ("Roman
Urdu", common in UK Pakistani communities), which it labels as English, Tagalog or Somali
at random. So readability is decided by :func:`decide` from two signals: the detected
language and the share of the comment's words the scorer knows (*coverage*, from the
embedded model's vocabulary, see :func:`classifiers.embedded.known_words`):

* no language determinable (emoji only, a name, fewer than :data:`MIN_LETTERS` letters):
  readable, language None (there is nothing to misread);
* a readable language other than English (a multilingual Detoxify model): readable;
* English but coverage below :data:`UNREADABLE_COVERAGE`: not readable, language None
  (a language lingua has no model for, such as Roman Urdu);
* at least two different :data:`ROMANISED_MARKERS` (very common Urdu, Punjabi or Hindi
  words written in Latin script, none of them English) making up at least
  :data:`MARKER_SHARE` of the words: not readable, language None, whatever lingua said
  (Roman Punjabi mixed with English words reaches the coverage threshold: "Mr Young
  bahut changa teacher aa");
* a language not in the readable set but coverage of at least :data:`READABLE_COVERAGE`
  while English is readable: English (a short English comment lingua misjudged);
* otherwise: readable if the detected language is in the readable set.

Coverage is only used with at least :data:`MIN_WORDS_FOR_COVERAGE` words.

On the non-English demo comments (Polish, Romanian, Roman Urdu) this marks all 15 as
unreadable and every English one readable; see ``benchmarks/scorer_language.py``. Known
limit: Roman Urdu that is mostly English loanwords ("parents evening", "school", "TA")
can reach the coverage threshold and pass as English (the worst demo case scores 0.42).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

#: ISO 639-1 codes detected by default: English, Welsh and Irish, and languages many
#: families of UK schools speak at home (a judgement; pass ``languages`` to change it).
DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "cy", "ga", "pl", "ro", "lt", "lv", "pt", "es", "it", "fr", "de", "tr", "sq",
    "bg", "ru", "uk", "ur", "pa", "bn", "hi", "gu", "ta", "ar", "fa", "so", "zh",
)
#: Fewer letters than this (after removing mentions, links, digits and emoji): undetermined.
MIN_LETTERS = 8
#: Fewer words than this: coverage is not used (too few words to judge).
MIN_WORDS_FOR_COVERAGE = 3
UNREADABLE_COVERAGE = 0.5
#: Frequent function words of Urdu, Punjabi and Hindi in Latin script that are not English
#: words (ambiguous ones such as "hi", "main", "to", "me", "par", "na" are left out).
ROMANISED_MARKERS: frozenset[str] = frozenset(
    "hai hain hoon hun bahut bohot bohat nahi nahin nahein kya kyun kyon aur mera meri mere "
    "tera teri tere sanu tuhanu vich wich sab sabh puttar putt beta beti changa changi vadiya "
    "wadia acha achha accha bilkul yeh woh ohna ehna ohnu ehnu hoya hogaya gaya gayi karo karna "
    "raha rahi rahe wala wali wale bachay bache bachon bacha bachay ustaad kuch kuj bhi "
    "haan tusi assi asi sada tuhada kithe kidda kiven kaise kaisa kyunki lekin magar "
    "maan shukriya shukria meherbani".split())
#: Share of a comment's words that must be markers (with at least two different ones).
MARKER_SHARE = 0.15
READABLE_COVERAGE = 0.75
#: Only the first this many characters are examined: enough to tell a language, and it
#: bounds the time a hostile 1 MB comment costs (lingua alone took 9 s on one).
MAX_CHARS = 2000

_STRIP_RE = re.compile(
    r"https?://\S+|www\.\S+"  # links
    r"|@[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?"  # Facebook "@First Last" tags
    r"|@\w+"  # X @handles
    r"|#\w+"  # hashtags
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


@dataclass(frozen=True)
class Detection:
    """lingua's verdict on one comment.

    :ivar language: ISO 639-1 code in lower case, or None when undetermined.
    :ivar confidence: lingua's relative confidence in ``language`` (0..1; 0 if None).
    :ivar words: the letter-only words of the comment (mentions, links, hashtags and
        capitalised words inside a sentence, which are names, removed), lower-cased: the
        input for coverage.
    """

    language: str | None
    confidence: float
    words: tuple[str, ...]


def detectable_words(text: str) -> tuple[str, ...]:
    """The words language detection looks at: letters only, lower-cased, without
    @mentions (including Facebook's two-word ``@First Last`` tags), links and hashtags."""
    return tuple(w.lower() for w in _WORD_RE.findall(_STRIP_RE.sub(" ", text)))


def vocabulary_words(text: str) -> tuple[str, ...]:
    """The words coverage is computed on: as :func:`detectable_words`, but without
    capitalised words inside a sentence (names such as ``Northampton`` or ``Kowalczyk``,
    which no vocabulary covers, in any language)."""
    cleaned = _STRIP_RE.sub(" ", text)
    out = []
    for m in _WORD_RE.finditer(cleaned):
        w = m.group()
        if w[0].isupper() and not w.isupper():
            before = cleaned[: m.start()].rstrip()
            if before and before[-1] not in ".!?…:\"“‘(":
                continue
        out.append(w.lower())
    return tuple(out)


class LanguageDetector:
    """lingua restricted to a set of languages, low-accuracy mode (small memory).

    Built once at start; :meth:`detect` is thread-safe.

    :param languages: ISO 639-1 codes (default :data:`DEFAULT_LANGUAGES`).
    :param low_accuracy: lingua's low-accuracy mode (default True; False loads the
        high-accuracy models, about 15 MB per language).
    :raises ValueError: naming a code lingua does not support.
    """

    def __init__(self, languages: Iterable[str] = DEFAULT_LANGUAGES, low_accuracy: bool = True):
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        langs = []
        for code in dict.fromkeys(c.lower() for c in languages):
            try:
                iso = getattr(IsoCode639_1, code.upper())
                langs.append(Language.from_iso_code_639_1(iso))
            except (AttributeError, ValueError):
                raise ValueError(f"language {code!r} is not supported by lingua") from None
        if len(langs) < 2:
            raise ValueError("language detection needs at least two languages")
        builder = LanguageDetectorBuilder.from_languages(*langs)
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        self._detector = builder.build()
        self.languages: tuple[str, ...] = tuple(lang.iso_code_639_1.name.lower() for lang in langs)

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        """Detect the language of each text (batched with lingua's parallel API), from its
        first :data:`MAX_CHARS` characters.

        :returns: one :class:`Detection` per text, input order.
        """
        heads = [t[:MAX_CHARS] for t in texts]
        prepared = [detectable_words(t) for t in heads]
        vocab = [vocabulary_words(t) for t in heads]
        todo = [i for i, ws in enumerate(prepared) if sum(map(len, ws)) >= MIN_LETTERS]
        out = [Detection(None, 0.0, vocab[i]) for i in range(len(texts))]
        if todo:
            results = self._detector.compute_language_confidence_values_in_parallel(
                [" ".join(prepared[i]) for i in todo]
            )
            for i, values in zip(todo, results):
                if values and values[0].value > 0:
                    top = values[0]
                    out[i] = Detection(top.language.iso_code_639_1.name.lower(), float(top.value), vocab[i])
        return out


def coverage(words: Sequence[str], known: Callable[[str], bool]) -> float | None:
    """Share (0..1) of ``words`` the scorer knows; None when there are fewer than
    :data:`MIN_WORDS_FOR_COVERAGE` words (too few to judge)."""
    if len(words) < MIN_WORDS_FOR_COVERAGE:
        return None
    return sum(1 for w in words if known(w)) / len(words)


def decide(detection: Detection, readable_languages: Sequence[str],
           known: Callable[[str], bool] | None = None) -> tuple[str | None, bool]:
    """Whether the scorer can read a comment: ``(language, readable)``.

    :param detection: from :meth:`LanguageDetector.detect`.
    :param readable_languages: ISO 639-1 codes the scorer reads.
    :param known: tells whether the scorer knows a (lower-case) word; None to decide on
        the detected language alone.
    :returns: the language to record (None when undetermined) and the verdict; rules in
        the module docstring.
    """
    readable = {c.lower() for c in readable_languages}
    lang = detection.language
    words = detection.words
    markers = [w for w in words if w in ROMANISED_MARKERS]
    if len(set(markers)) >= 2 and len(markers) >= MARKER_SHARE * len(words) and not (
            lang in readable and lang not in ("en", None)):
        return None, False
    if lang is None:
        return None, True
    if lang in readable and lang != "en":
        return lang, True
    cov = coverage(detection.words, known) if known is not None else None
    if lang == "en" and cov is not None and cov < UNREADABLE_COVERAGE:
        return None, False
    if lang not in readable and "en" in readable and cov is not None and cov >= READABLE_COVERAGE:
        return "en", True
    return lang, lang in readable
