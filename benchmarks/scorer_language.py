"""Language routing on the bundled demo comments: which ones the embedded scorer is
judged able to read, against the comments' own notes.

Usage (from the repository root)::

    .venv/bin/python benchmarks/scorer_language.py

The demo comments' ``note`` gives a translation for the Polish, Romanian and Roman Urdu
ones; every other comment is English (slang, names, emoji, short replies). Prints the
confusion counts (non-English judged readable is the costly error: such a comment would be
scored as clean English), the errors, the detector's memory and speed, and what lingua
alone (without the vocabulary-coverage rule) would have decided.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def rss_mb() -> float:
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024


def main() -> int:
    from classifiers.embedded import EmbeddedScorer
    from classifiers.language import LanguageDetector, decide

    rows = [json.loads(line) for line in (REPO / "monitor" / "demo_data" / "comments.jsonl").open(encoding="utf-8")]
    truth = []
    for r in rows:
        note = r.get("note", "")
        lang = next((c for k, c in (("Polish:", "pl"), ("Romanian:", "ro"), ("Roman Urdu:", "ur (Latin script)"))
                     if k in note), "en")
        truth.append(lang)
    scorer = EmbeddedScorer()
    known = scorer.known_words().__contains__
    before = rss_mb()
    t = time.perf_counter()
    det = LanguageDetector()
    dets = det.detect([r["text"] for r in rows])
    elapsed = time.perf_counter() - t
    grown = rss_mb() - before
    for name, k in (("lingua + coverage rule (shipped)", known), ("lingua alone", None)):
        conf = {"en readable": 0, "en unreadable": 0, "other readable": 0, "other unreadable": 0}
        errors = []
        for r, d, lang in zip(rows, dets, truth):
            got_lang, readable = decide(d, ["en"], k)
            key = ("en" if lang == "en" else "other") + (" readable" if readable else " unreadable")
            conf[key] += 1
            if readable != (lang == "en"):
                errors.append(f"    {r['id']} ({lang}; detected {got_lang or d.language}): {r['text'][:70]!r}")
        print(f"{name}: English judged readable {conf['en readable']}/{conf['en readable'] + conf['en unreadable']}, "
              f"non-English judged unreadable {conf['other unreadable']}/{conf['other readable'] + conf['other unreadable']}")
        print("\n".join(errors) if errors else "    no errors")
    print(f"detector: {len(det.languages)} languages, low-accuracy mode; built and ran on {len(rows)} comments in "
          f"{elapsed * 1000:.0f} ms; RSS grew {grown:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
