"""Language routing: lingua detection plus vocabulary coverage decides which comments the
scorer can read; the rest must go to a person (readable=False)."""

from __future__ import annotations

import json

import pytest

from classifiers.embedded import EmbeddedScorer
from classifiers.engine import ScoringEngine
from classifiers.language import (
    DEFAULT_LANGUAGES,
    Detection,
    LanguageDetector,
    decide,
    detectable_words,
    vocabulary_words,
)


@pytest.fixture(scope="module")
def engine() -> ScoringEngine:
    return ScoringEngine(EmbeddedScorer())


@pytest.fixture(scope="module")
def labelled(request):
    path = request.config.rootpath / "tests" / "fixtures" / "classifiers" / "languages.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_demo_comments_routed_by_language(engine, labelled):
    """Every Polish, Romanian and Roman Urdu demo comment is unreadable; every English
    one (short, slangy, with names and emoji) is readable."""
    scores = engine.score([r["text"] for r in labelled])
    wrong = [(r["id"], r["expected"], s.language) for r, s in zip(labelled, scores) if s.readable != r["readable"]]
    assert wrong == []
    by_id = {r["id"]: s for r, s in zip(labelled, scores)}
    assert by_id["A-0006"].language == "pl"
    assert by_id["A-0071"].language == "ro"


def test_roman_urdu_is_never_english_readable(engine, labelled):
    urdu = [r["text"] for r in labelled if r["expected"] == "ur-Latn"]
    assert len(urdu) == 3
    assert not any(s.readable for s in engine.score(urdu))
    assert not engine.score_one("Bohat shukriya teacher, mera beta school bohat pasand karta hai").readable


@pytest.mark.parametrize("text", [
    "Mi hijo está muy contento en la escuela, gracias a la maestra",
    "Mon fils adore son école, merci beaucoup à la maîtresse",
    "Mein Sohn liebt seine Schule, vielen Dank an die Lehrerin",
    "Mano sūnus labai myli mokyklą, ačiū mokytojai",
    "Diolch yn fawr i bawb yn yr ysgol heddiw",
    "میرا بیٹا اسکول سے بہت خوش ہے",
])
def test_other_community_languages_are_unreadable(engine, text):
    s = engine.score_one(text)
    assert s.readable is False
    assert s.language not in (None, "en")


@pytest.mark.parametrize("text", ["👏👏", "😂😂😂", "ok", "@Dean Hollis 👍", "https://example.com", "Y6"])
def test_short_or_emoji_only_counts_as_readable(engine, text):
    s = engine.score_one(text)
    assert s.readable is True
    assert s.language is None


def test_multilingual_scorer_reads_its_languages(engine):
    multi = ScoringEngine(engine.scorer, readable_languages=("en", "pl", "ro"), detector=engine.detector)
    s = multi.score_one("Ta nauczycielka z Year 4 to kompletna idiotka, nic nie ogarnia.")
    assert (s.language, s.readable) == ("pl", True)


def test_decide_rules():
    known = {"well", "done", "sir", "the", "is", "a", "school", "good", "parents", "evening"}.__contains__
    d = lambda lang, ws: Detection(lang, 0.9, tuple(ws))  # noqa: E731
    assert decide(d(None, []), ["en"], known) == (None, True)
    # lingua says German, but the scorer knows every word: English
    assert decide(d("de", ["well", "done", "sir"]), ["en"], known) == ("en", True)
    # lingua says English, but the scorer knows few words: unreadable, language unknown
    assert decide(d("en", ["parents", "evening", "ka", "intezar", "nahi", "karunga"]), ["en"], known) == (None, False)
    assert decide(d("pl", ["ta", "nauczycielka", "jest"]), ["en"], known) == ("pl", False)
    # without a vocabulary the detected language alone decides
    assert decide(d("de", ["well", "done", "sir"]), ["en"], None) == ("de", False)
    # too few words to judge coverage
    assert decide(d("en", ["ka", "hai"]), ["en"], known) == ("en", True)


def test_words_for_detection_and_coverage():
    text = "@Ross Kettle she was born in Northampton 🙄 idiota #fb https://x.co/a"
    assert detectable_words(text) == ("she", "was", "born", "in", "northampton", "idiota")
    assert vocabulary_words(text) == ("she", "was", "born", "in", "idiota")
    assert vocabulary_words("Thanks Mrs Rao. Great trip!") == ("thanks", "great", "trip")


def test_detector_languages_and_bad_code():
    det = LanguageDetector(["en", "pl"])
    assert det.languages == ("en", "pl")
    assert [d.language for d in det.detect(["Dziękujemy bardzo za wszystko", "👍"])] == ["pl", None]
    assert "ur" in DEFAULT_LANGUAGES and "cy" in DEFAULT_LANGUAGES
    with pytest.raises(ValueError, match="'xx'"):
        LanguageDetector(["en", "xx"])


def test_a_huge_comment_is_judged_from_its_start_quickly(engine):
    import time

    text = ("Mrs Ashworth is a liar \u202e 👍🏽 <b>x</b>\r\n" * 30000)[: 1 << 20]
    t = time.perf_counter()
    (s,) = engine.score([text])
    assert time.perf_counter() - t < 5  # about 0.3 s; lingua on the whole megabyte took 9 s
    assert (s.language, s.readable) == ("en", True)



@pytest.mark.parametrize("text", [
    "Bahut vadiya open evening si, sab teachers bahut helpful san",
    "Mr Young bahut changa teacher aa, thank you sir for helping Harpreet with his reading",
    "Mera puttar vi assembly vich si, bahut maan aa",
])
def test_roman_punjabi_mixed_with_english_goes_to_a_person(engine, text):
    (s,) = engine.score([text])
    assert (s.language, s.readable) == (None, False)


@pytest.mark.parametrize("text", [
    "Brilliant assembly, the kids loved it and the head was great",
    "Hi Mrs Rao, is the trip still on? Main gate or the side gate?",
    "Bahut is a lovely name for a dog, we got ours from the rescue",
])
def test_english_with_a_stray_marker_stays_readable(engine, text):
    (s,) = engine.score([text])
    assert s.readable is True and s.language == "en"
