"""replay streams its input and scores in the engine's batches, with the same output as one
comment at a time (issue 14, item 20)."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys

from monitor.config import load_config
from monitor.demo_data import path as demo_path
from monitor.replay import replay

TABLES = ("comments", "comment_versions", "scores", "assessments", "comment_keys", "strikes", "alerts",
          "block_recommendations", "audit_log")


def _dump(db) -> dict[str, list]:
    """Every row of every table, JSON columns parsed; without the ``digest`` columns (the
    evidence chain's hashes of the very fields compared here, which a 4th-decimal score in
    the evidence changes)."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        out = {}
        for t in TABLES:
            rows = []
            for r in con.execute(f"SELECT * FROM {t} ORDER BY rowid"):
                row = {k: v for k, v in dict(r).items() if k != "digest"}
                for k, v in row.items():
                    if isinstance(v, str) and v[:1] in "[{":
                        try:
                            row[k] = json.loads(v)
                        except ValueError:
                            pass
                rows.append(row)
            out[t] = rows
        return out
    finally:
        con.close()


def _same(got, want, where: str) -> None:
    """Equal, numbers to 1e-3: the signals model's ONNX encoder gives scores differing by
    under 1e-6 in a batch and alone (the same sums in another order), which can move the
    4th decimal of a rounded score in the evidence. Every key, strike, alert and text is
    compared exactly."""
    if isinstance(want, float) or isinstance(got, float):
        assert isinstance(got, (int, float)) and abs(got - want) < 1e-3, (where, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (where, got, want)
        for k in want:
            _same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


def test_batches_and_input_order_do_not_change_the_output(tmp_path):
    config = load_config(demo_path("school.toml"))
    rows = demo_path("comments.jsonl").read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    random.Random(7).shuffle(rows)
    shuffled.write_text("\n".join(rows) + "\n", encoding="utf-8")
    runs = {}
    for name, src, size in (("one", demo_path("comments.jsonl"), 1), ("shuffled", shuffled, 64)):
        out = tmp_path / name
        out.mkdir()
        summary = replay(config, src, out / "r.db", alerts_out=out / "alerts.jsonl", batch_size=size)
        runs[name] = (dict(summary, db=None), (out / "alerts.jsonl").read_text(encoding="utf-8"),
                      _dump(out / "r.db"))
    one = runs["one"]
    assert one[1].count("\n") > 50  # alerts were written
    for name in ("shuffled",):
        assert runs[name][0] == one[0], name
        assert runs[name][1] == one[1], name
        for t in TABLES:
            _same(runs[name][2][t], one[2][t], f"{name}:{t}")


def _write(path, n: int, pad: int) -> None:
    """``n`` small comments, each carrying ``pad`` bytes in an extra key (kept as raw)."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"M{i}", "platform": "facebook", "post": "Sports day",
                                 "author_id": f"fb:{i}", "author_name": "A",
                                 "created_at": f"2026-10-01T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                                 "text": "Lovely day, thank you", "extra": "x" * pad}) + "\n")


CHILD = """
import resource, sys
from pathlib import Path
from monitor.config import load_config
from monitor.replay import replay
summary = replay(load_config(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
assert summary["comments_read"] == int(sys.argv[4]), summary
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_input(tmp_path):
    """Peak RSS of a replay of 120 comments carrying 200 KB each is about that of 10: the
    input is not held (before, every comment with its raw row stayed in a list: +25 MB or
    more here). Each size runs in its own process (ru_maxrss is a process's peak)."""
    conf = tmp_path / "school.toml"
    conf.write_text(demo_path("school.toml").read_text(encoding="utf-8") + "\n[classifier]\nbatch_size = 8\n",
                    encoding="utf-8")
    procs = {}
    for n in (10, 120):
        src = tmp_path / f"in-{n}.jsonl"
        _write(src, n, 200_000)
        procs[n] = subprocess.Popen([sys.executable, "-c", CHILD, str(conf), str(src), str(tmp_path / f"r-{n}.db"),
                                     str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks_kb = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        peaks_kb[n] = int(out.split()[-1])
    assert peaks_kb[120] - peaks_kb[10] < 10_000, peaks_kb
