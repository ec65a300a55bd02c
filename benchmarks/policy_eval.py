"""Evaluate the policy categoriser and the strike policy on a labelled JSONL.

Usage::

    python benchmarks/policy_eval.py LABELLED.jsonl SCHOOL.toml [--mode auto|replay|inprocess]
                                     [--json OUT.json] [--errors]

LABELLED.jsonl lines are shaped like ``monitor/demo_data/comments.jsonl``: ``id``,
``platform``, ``post``, ``author_id``, ``author_name``, ``created_at``, ``text``,
``attachment`` (null/"photo"/"video"), ``categories`` (the labelled policy keys) and
``escalate``. SCHOOL.toml is a config (a roster-only file is enough).

Prints per-key precision, recall and F1, macro-F1 over the eleven keys, escalation
precision and recall, complaints counted as strikes (must be 0), and block
recommendations against the authors whose *labelled* strikes reach the policy's
threshold (the same :func:`classifiers.policy.strikes.decide` run over the labels).

Modes:

* ``replay``: runs the product (``school-monitor replay FILE --config CONF --db DB
  --alerts-out ALERTS``), reads the keys from the DB's ``assessments`` table and the
  escalations / block recommendations from the alerts file;
* ``inprocess``: :class:`~classifiers.policy.Categoriser` and
  :func:`~classifiers.policy.strikes.decide` over the file in ``created_at`` order,
  scores from ``classifiers.build_engine`` when it exists, else the embedded scorer,
  else zero scores (said in the output);
* ``auto`` (default): replay when the ``replay`` command works, else in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402
from monitor.domain import POLICY_KEYS, Attachment, Comment, Scores, StrikeRecord, parse_time  # noqa: E402
from classifiers.policy import Categoriser, decide, strike_records  # noqa: E402


def read_rows(path: str) -> list[dict]:
    """The labelled rows, in created_at order (ties by id).

    :raises SystemExit: a line that is not JSON or lacks a field (names the line).
    """
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row["_at"] = parse_time(row["created_at"])
                row.setdefault("categories", [])
            except (ValueError, KeyError) as exc:
                raise SystemExit(f"{path}:{n}: bad row: {exc}")
            rows.append(row)
    rows.sort(key=lambda r: (r["_at"], r["id"]))
    return rows


def to_comment(row: dict, texts: dict[str, str] | None = None) -> Comment:
    """A labelled row as a :class:`~monitor.domain.Comment` (``comment_id`` = row id);
    ``texts`` (row id to text) gives the parent's text for a reply (``parent_id``)."""
    att = (Attachment(type=row["attachment"]),) if row.get("attachment") else ()
    parent = row.get("parent_id") or None
    return Comment(platform=row["platform"], account=row["platform"], post_id=row.get("post", "")[:40],
                   comment_id=row["id"], parent_id=parent, author_id=row["author_id"],
                   author_name=row.get("author_name", ""), text=row.get("text", ""),
                   created_at=row["_at"], attachments=att, post_text=row.get("post"),
                   parent_text=(texts or {}).get(parent) if parent else None)


def make_scorer(config):
    """``(score_fn(texts) -> list[Scores], description)``: ``classifiers.build_engine``
    (``engine.score(texts)``), else the embedded scorer alone, else zero scores."""
    try:
        from classifiers import build_engine  # type: ignore[attr-defined]

        engine = build_engine(config.classifier, base_dir=config.base_dir)
        return engine.score, "classifiers.build_engine (language routing on)"
    except Exception as exc:  # noqa: BLE001 - any failure falls back, and is said
        note = f"build_engine unavailable ({type(exc).__name__})"
    else:
        note = "build_engine has no known scoring method"
    try:
        from classifiers.embedded import EmbeddedScorer

        sc = EmbeddedScorer()

        def fn(texts):
            return [Scores(values=v, model=sc.name, model_version=sc.version) for v in sc.score(texts)]

        return fn, f"embedded scorer {sc.version} (no language detection; {note})"
    except Exception as exc:  # noqa: BLE001
        return (lambda texts: [Scores(values={}, model="none", model_version="0") for _ in texts],
                f"ZERO scores ({note}; embedded: {type(exc).__name__}: {exc})")


#: strike keys per comment id from the last run (in-process: the assessments; replay: the
#: DB's ``assessments.strikes``), to check that no complaint ever counted as a strike
STRUCK: dict[str, list[str]] = {}
#: ids sent to a person (``needs_review``) in the last run, for the "escalated or sent to a
#: person" figure
REVIEWED: set[str] = set()


def zero_scores(texts):
    """Scores of 0 for every label (the categoriser's word lists alone)."""
    return [Scores(values={}, model="none", model_version="0") for _ in texts]


def run_inprocess(rows: list[dict], config, score_fn=None) -> tuple[dict, set, set, str]:
    """Predicted keys per id, escalated ids, block-recommended authors, a description.

    :param score_fn: ``texts -> list[Scores]``; default :func:`make_scorer`.
    """
    t0 = time.perf_counter()
    cat = Categoriser(config)
    t_build = time.perf_counter() - t0
    if score_fn is None:
        score_fn, desc = make_scorer(config)
    else:
        desc = getattr(score_fn, "__name__", "given")
    texts = {r["id"]: r.get("text", "") for r in rows}
    comments = [to_comment(r, texts) for r in rows]
    scores = []
    for i in range(0, len(comments), 64):
        batch = comments[i:i + 64]
        out = score_fn([c.text for c in batch])
        scores.extend(s if isinstance(s, Scores) else Scores(values=s, model="?", model_version="?") for s in out)
    pred, escalated, blocked = {}, set(), set()
    STRUCK.clear()
    REVIEWED.clear()
    strikes: dict[str, list[StrikeRecord]] = defaultdict(list)
    last_rec: dict[str, object] = {}
    t_assess = 0.0
    for c, s in zip(comments, scores):
        t1 = time.perf_counter()
        a = cat.assess(c, s)
        t_assess += time.perf_counter() - t1
        pred[c.comment_id] = list(a.categories)
        if a.escalate:
            escalated.add(c.comment_id)
        if a.needs_review:
            REVIEWED.add(c.comment_id)
        recs = strike_records(c, a)
        STRUCK[c.comment_id] = list(a.strikes)
        if recs:
            strikes[c.author_id].extend(recs)
            d = decide(c.author_id, strikes[c.author_id], c.created_at, config.policy, last_rec.get(c.author_id))
            if d.recommend_block:
                blocked.add(c.author_id)
                last_rec[c.author_id] = c.created_at
    per = 1000 * t_assess / max(1, len(comments))
    return pred, escalated, blocked, (f"in-process Categoriser (built in {t_build:.2f} s, "
                                      f"{per:.1f} ms per comment), scores: {desc}")


def run_replay(path: str, conf: str) -> tuple[dict, set, set, str]:
    """Run ``school-monitor replay`` and read its DB and alerts file.

    :raises RuntimeError: the command failed (its stderr is included).
    """
    exe = Path(sys.executable).with_name("school-monitor")
    cmd0 = [str(exe)] if exe.exists() else [sys.executable, "-m", "monitor.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        db, alerts = os.path.join(tmp, "replay.db"), os.path.join(tmp, "alerts.jsonl")
        proc = subprocess.run([*cmd0, "replay", path, "--config", conf, "--db", db, "--alerts-out", alerts,
                               "--mail-dir", os.path.join(tmp, "mail")],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"replay exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        con = sqlite3.connect(db)
        pred: dict[str, list[str]] = {}
        cols = [r[1] for r in con.execute("PRAGMA table_info(assessments)")]
        order = "ORDER BY platform, comment_id, version"
        STRUCK.clear()
        has_strikes = "strikes" in cols
        q = f"SELECT comment_id, categories{', strikes' if has_strikes else ''} FROM assessments {order}"
        for row in con.execute(q):
            pred[row[0]] = list(json.loads(row[1] or "[]"))  # the latest assessment wins
            STRUCK[row[0]] = list(json.loads(row[2] or "[]")) if has_strikes else []
        # map native comment ids back to the file's ids when replay keeps them apart
        ccols = [r[1] for r in con.execute("PRAGMA table_info(comments)")]
        id_map = {}
        for src in ("source_id", "external_ref", "file_id"):
            if src in ccols:
                id_map = dict(con.execute(f"SELECT comment_id, {src} FROM comments"))
                break
        con.close()
        if id_map:
            pred = {id_map.get(k, k) or k: v for k, v in pred.items()}
        escalated, blocked = set(), set()
        REVIEWED.clear()
        with open(alerts, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                al = json.loads(line)
                ids = [id_map.get(i, i) or i for i in al.get("comment_ids", [])]
                if al.get("kind") == "escalation":
                    escalated.update(ids)
                elif al.get("kind") == "needs_review":
                    REVIEWED.update(ids)
                elif al.get("kind") == "block_recommendation":
                    blocked.add(al.get("author_id"))
    return pred, escalated, blocked, "school-monitor replay"


def labelled_blocks(rows: list[dict], config) -> set:
    """Authors whose labelled strikes reach the policy's threshold (same rules)."""
    strikes: dict[str, list[StrikeRecord]] = defaultdict(list)
    last: dict[str, object] = {}
    out = set()
    own = set(config.school.own_accounts)
    for r in rows:
        if r["author_id"] in own:
            continue
        keys = [k for k in r["categories"] if k in config.policy.strike_keys]
        if not keys:
            continue
        strikes[r["author_id"]].extend(StrikeRecord(r["platform"], r["id"], k, r["_at"]) for k in keys)
        d = decide(r["author_id"], strikes[r["author_id"]], r["_at"], config.policy, last.get(r["author_id"]))
        if d.recommend_block:
            out.add(r["author_id"])
            last[r["author_id"]] = r["_at"]
    return out


def evaluate(rows, pred, escalated, blocked, config) -> dict:
    """Figures as a dict (also printed by :func:`main`)."""
    per_key = {}
    f1s = []
    for k in POLICY_KEYS:
        tp = sum(1 for r in rows if k in r["categories"] and k in pred.get(r["id"], []))
        fp = sum(1 for r in rows if k not in r["categories"] and k in pred.get(r["id"], []))
        fn = sum(1 for r in rows if k in r["categories"] and k not in pred.get(r["id"], []))
        p = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
        rc = tp / (tp + fn) if tp + fn else 1.0
        f = 2 * p * rc / (p + rc) if p + rc else 0.0
        per_key[k] = {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": rc, "f1": f, "support": tp + fn}
        f1s.append(f)
    esc_true = {r["id"] for r in rows if r.get("escalate")}
    tp = len(esc_true & escalated)
    esc = {"precision": tp / len(escalated) if escalated else 1.0, "recall": tp / len(esc_true) if esc_true else 1.0,
           "tp": tp, "fp": len(escalated - esc_true), "fn": len(esc_true - escalated)}
    seen = escalated | REVIEWED
    tp2 = len(esc_true & seen)
    esc_or_review = {"precision": tp2 / len(seen) if seen else 1.0,
                     "recall": tp2 / len(esc_true) if esc_true else 1.0, "sent": len(seen)}
    complaint_strikes = sum(1 for r in rows for k in STRUCK.get(r["id"], []) if k.startswith("complaint_"))
    expected = labelled_blocks(rows, config)
    btp = len(expected & blocked)
    bp = btp / len(blocked) if blocked else 1.0
    br = btp / len(expected) if expected else 1.0
    return {"per_key": per_key, "macro_f1": sum(f1s) / len(f1s), "escalation": esc,
            "escalated_or_reviewed": esc_or_review,
            "block_f1": {"precision": bp, "recall": br, "f1": 2 * bp * br / (bp + br) if bp + br else 0.0},
            "complaint_strikes": complaint_strikes,
            "blocks": {"expected": sorted(expected), "predicted": sorted(blocked),
                       "missing": sorted(expected - blocked), "extra": sorted(blocked - expected),
                       "exact": expected == blocked}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labelled")
    ap.add_argument("school")
    ap.add_argument("--mode", choices=("auto", "replay", "inprocess"), default="auto")
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--errors", action="store_true", help="list each wrong comment")
    ap.add_argument("--zero-scores", action="store_true",
                    help="in-process with all scores 0 (the word lists alone)")
    args = ap.parse_args(argv)
    config = load_config(args.school)
    rows = read_rows(args.labelled)
    how = None
    if args.zero_scores:
        args.mode = "inprocess"
    if args.mode in ("auto", "replay"):
        try:
            pred, escalated, blocked, how = run_replay(args.labelled, args.school)
        except Exception as exc:  # noqa: BLE001
            if args.mode == "replay":
                print(f"replay failed: {exc}", file=sys.stderr)
                return 1
            print(f"(replay not usable: {str(exc).splitlines()[0][:200]}; running in-process)", file=sys.stderr)
    if how is None:
        pred, escalated, blocked, how = run_inprocess(rows, config, zero_scores if args.zero_scores else None)
    res = evaluate(rows, pred, escalated, blocked, config)
    print(f"{len(rows)} comments from {args.labelled}; path: {how}")
    print(f"{'key':<20} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4}")
    for k, v in res["per_key"].items():
        print(f"{k:<20} {v['precision']:6.2f} {v['recall']:6.2f} {v['f1']:6.2f} {v['tp']:4d} {v['fp']:4d} {v['fn']:4d}")
    print(f"macro-F1 (11 keys): {res['macro_f1']:.3f}")
    e = res["escalation"]
    print(f"escalation: precision {e['precision']:.3f} recall {e['recall']:.3f} (TP {e['tp']}, FP {e['fp']}, FN {e['fn']})")
    e2 = res["escalated_or_reviewed"]
    print(f"escalated or sent to a person: recall {e2['recall']:.3f} precision {e2['precision']:.3f} "
          f"({e2['sent']} comments)")
    print(f"complaints counted as strikes: {res['complaint_strikes']}")
    b = res["blocks"]
    print(f"block recommendations: {len(b['predicted'])} predicted, {len(b['expected'])} implied by labels; "
          f"exact match: {b['exact']}; missing {b['missing']}; extra {b['extra']}")
    bf = res["block_f1"]
    print(f"block recommendations: precision {bf['precision']:.3f} recall {bf['recall']:.3f} F1 {bf['f1']:.3f}")
    if args.errors:
        for r in rows:
            p, t = set(pred.get(r["id"], [])), set(r["categories"])
            if p != t:
                print(f"  {r['id']} {r['author_id']} +{sorted(p - t)} -{sorted(t - p)} | {r['text'][:150]}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
