"""Benchmark: the real daemon polling 200 accounts every minute, on loopback fakes.

Goal (issue 9): 200 accounts (half Facebook Pages, half X accounts) polled every minute
for 10 minutes on a 2-core machine: are the polls on time, how much CPU and memory does
the daemon use?

Setup: this process starts one fake Graph API server per Page and one fake X API server
per X account (:class:`monitor.fakes.graph.FakeGraphServer`,
:class:`monitor.fakes.x.FakeXServer`, real HTTP servers on 127.0.0.1) and an SMTP server
(aiosmtpd). Each account starts with 2 posts and ``--backlog`` comments; every minute
``--new-per-minute`` new comments arrive on each account, drawn from the bundled demo
comments (so about a third are flagged and some escalate: alerts are emailed). Then
``school-monitor run`` is started as a subprocess with a config of the 200 accounts
(``poll_interval_minutes = 1``, embedded scorer) and left running for ``--minutes``;
then it gets SIGTERM.

Measured (daemon process only, from ``/proc``): CPU seconds (user + system) and the
share of one core, peak and final RSS; from the store's ``poll_log``: polls per account
(expected: one a minute), the interval between consecutive polls of an account (the
scheduler adds up to 6 s of jitter), the HTTP part of each poll (``fetch_seconds``),
polls that failed; comments stored, alerts and emails delivered; APScheduler "missed"
warnings in the daemon's log. The fakes run in this process and share the 2 cores (their
CPU is printed too).

``--latency`` makes every fake answer after a delay, standing for the round trip to the
real Graph and X APIs (all jobs share one worker thread, so latency, not CPU, bounds how
many accounts one daemon can poll a minute).

Usage::

    .venv/bin/python benchmarks/scale_poll.py [--accounts 200] [--minutes 10] [--backlog 10]
        [--new-per-minute 1] [--latency 0] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.fakes.graph import FakeGraphServer  # noqa: E402
from monitor.fakes.x import FakeXServer  # noqa: E402
from monitor.delivery.smtp_sink import SmtpSink  # noqa: E402

FB_TOKEN = "scale-bench-page-token-000000"
X_TOKEN = "scale-bench-x-bearer-token-000000"
TICK = os.sysconf("SC_CLK_TCK")


def demo_texts() -> list[str]:
    """The bundled demo comments' texts (a realistic mix: most fine, some flagged)."""
    from monitor.demo_data import path as demo_path

    with open(demo_path("comments.jsonl"), encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


class Fleet:
    """The fake platforms: ``n_fb`` Pages and ``n_x`` X accounts, each on its own server."""

    def __init__(self, n_fb: int, n_x: int, backlog: int, rng: random.Random):
        self.rng = rng
        self.texts = demo_texts()
        now = datetime.now(timezone.utc)
        self.graphs: list[FakeGraphServer] = []
        self.fb_posts: list[list[str]] = []
        self.xs: list[FakeXServer] = []
        self.x_posts: list[list[str]] = []
        for i in range(n_fb):
            g = FakeGraphServer([], page_id=str(100000 + i), page_name=f"School {i}", token=FB_TOKEN).start()
            # The fake numbers comments per server; offset them so ids are unique across Pages,
            # as Graph ids are.
            g._seq = (i + 1) * 10_000_000  # noqa: SLF001 - benchmark-only id space
            posts = [g.add_post(f"School {i} news {k}", now - timedelta(hours=20 - k)) for k in range(2)]
            self.graphs.append(g)
            self.fb_posts.append(posts)
        for i in range(n_x):
            x = FakeXServer([], user_id=str(200000 + i), username=f"school{i}", bearer_token=X_TOKEN).start()
            posts = [x.add_post(f"School {i} news {k}", now - timedelta(hours=20 - k)) for k in range(2)]
            self.xs.append(x)
            self.x_posts.append(posts)
        self.added = 0
        self.add_comments(backlog, now - timedelta(hours=10), spread=timedelta(hours=9))

    def add_comments(self, per_account: int, start: datetime, spread: timedelta = timedelta(0)) -> None:
        """``per_account`` new comments on every account, timed from ``start``."""
        for i, g in enumerate(self.graphs):
            for k in range(per_account):
                at = start + spread * (k / max(1, per_account))
                g.add_comment(self.rng.choice(self.fb_posts[i]), self.rng.choice(self.texts),
                              author_id=str(1_000_000 + self.rng.randrange(5000)),
                              author_name=f"Parent {self.rng.randrange(5000)}", created_at=at)
                self.added += 1
        for i, x in enumerate(self.xs):
            for k in range(per_account):
                at = start + spread * (k / max(1, per_account))
                author = 3_000_000 + self.rng.randrange(5000)
                x.add_reply(self.rng.choice(self.x_posts[i]), self.rng.choice(self.texts) + f" #{self.added}",
                            author_id=str(author), username=f"parent{author}", created_at=at)
                self.added += 1

    def stop(self) -> None:
        for s in self.graphs + self.xs:
            s.stop()


def write_config(path: Path, fleet: Fleet, smtp_port: int, interval_min: float) -> None:
    """A config naming every fake account (tokens through environment variables)."""
    from monitor.demo_data import path as demo_path

    parts = [demo_path("school.toml").read_text(encoding="utf-8"), ""]
    for i, g in enumerate(fleet.graphs):
        parts.append(f'[[accounts]]\nname = "fb-{i}"\nplatform = "facebook"\npage_id = "{g.page_id}"\n'
                     f'base_url = "{g.base_url}"\ntoken_env = "SCALE_FB_TOKEN"\n'
                     f"poll_interval_minutes = {interval_min}\nlookback_days = 30\n")
    for i, x in enumerate(fleet.xs):
        parts.append(f'[[accounts]]\nname = "x-{i}"\nplatform = "twitter"\nuser_id = "{x.user_id}"\n'
                     f'handle = "{x.username}"\nbase_url = "{x.base_url}"\nbearer_token_env = "SCALE_X_TOKEN"\n'
                     f"poll_interval_minutes = {interval_min}\nlookback_days = 7\n")
    parts.append(f"""
[classifier]
backend = "embedded"

[alerts]
sender = "monitor@trust.example"
group_wait_minutes = 5

[alerts.recipients]
coordinator = ["esafety@trust.example"]
headteacher = ["head@trust.example"]
safeguarding_lead = ["dsl@trust.example"]

[alerts.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[storage]
path = "scale.db"
""")
    path.write_text("\n".join(parts), encoding="utf-8")


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(CPU seconds user+system, RSS bytes, peak RSS bytes) of a process from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu, rss, hwm


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def analyse(db: Path, accounts: int, t0: datetime, t1: datetime, interval_s: float) -> dict:
    """Poll timing from the store's poll_log, within [t0, t1]."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute("SELECT account, started_at, finished_at, ok FROM poll_log ORDER BY id").fetchall()
    per: dict[str, list[datetime]] = {}
    durations, failed = [], 0
    for account, started, finished, ok in rows:
        s = datetime.fromisoformat(started.replace("Z", "+00:00"))
        f = datetime.fromisoformat(finished.replace("Z", "+00:00"))
        if not (t0 <= s <= t1):
            continue
        per.setdefault(account, []).append(s)
        durations.append((f - s).total_seconds())
        failed += 0 if ok else 1
    intervals = [(b - a).total_seconds() for starts in per.values() for a, b in zip(starts, starts[1:])]
    minutes = (t1 - t0).total_seconds() / 60
    counts = [len(per.get(a, [])) for a in per] + [0] * (accounts - len(per))
    stats = {
        "polls": sum(counts),
        "accounts_polled": len(per),
        "expected_polls_per_account": round(minutes * 60 / interval_s, 1),
        "polls_per_account_min": min(counts) if counts else 0,
        "polls_per_account_median": statistics.median(counts) if counts else 0,
        "interval_s_p50": round(pct(intervals, 50), 1),
        "interval_s_p95": round(pct(intervals, 95), 1),
        "interval_s_max": round(max(intervals), 1) if intervals else None,
        "late_intervals_over_90s": sum(1 for i in intervals if i > 1.5 * interval_s),
        "fetch_seconds_p50": round(pct(durations, 50), 3),
        "fetch_seconds_p95": round(pct(durations, 95), 3),
        "failed_polls": failed,
        "comments_stored": conn.execute("SELECT COUNT(*) FROM comments").fetchone()[0],
        "comments_pending": conn.execute("SELECT COUNT(*) FROM comments WHERE status = 'new'").fetchone()[0],
        "alerts": conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0],
        "messages_sent": conn.execute("SELECT COUNT(*) FROM messages WHERE status = 'sent'").fetchone()[0],
        "db_bytes": db.stat().st_size + (Path(str(db) + "-wal").stat().st_size
                                         if Path(str(db) + "-wal").exists() else 0),
    }
    conn.close()
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=200, help="accounts, half Facebook and half X (default 200)")
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the daemon runs (default 10)")
    ap.add_argument("--interval", type=float, default=1.0, help="poll interval in minutes (default 1)")
    ap.add_argument("--backlog", type=int, default=10, help="comments per account before the start (default 10)")
    ap.add_argument("--new-per-minute", type=int, default=1, help="new comments per account per minute (default 1)")
    ap.add_argument("--latency", type=float, default=0.0,
                    help="seconds each fake waits before answering, to stand for the round trip to the "
                         "real platforms (default 0: loopback)")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--out", help="also write the figures to this JSON file")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    n_fb = args.accounts // 2
    n_x = args.accounts - n_fb
    work = Path(tempfile.mkdtemp(prefix="scale-poll-"))
    t_setup = time.monotonic()
    fleet = Fleet(n_fb, n_x, args.backlog, rng)
    if args.latency:
        for g in fleet.graphs:
            g.delay(args.latency)
        for x in fleet.xs:
            x.set_delay(args.latency)
    smtp = SmtpSink(None).start()
    cfg = work / "config.toml"
    write_config(cfg, fleet, smtp.port, args.interval)
    print(f"{args.accounts} accounts ({n_fb} Facebook, {n_x} X) on loopback, {fleet.added} comments before start; "
          f"set up in {time.monotonic() - t_setup:.1f} s; work dir {work}", flush=True)

    env = {**os.environ, "SCALE_FB_TOKEN": FB_TOKEN, "SCALE_X_TOKEN": X_TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    log_path = work / "daemon.log"
    self_cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = datetime.now(timezone.utc)
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "--config", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    peak_rss = 0
    samples = []
    stop = threading.Event()

    def arrivals() -> None:
        while not stop.wait(60 * args.interval):
            fleet.add_comments(args.new_per_minute, datetime.now(timezone.utc) - timedelta(seconds=5))

    feeder = threading.Thread(target=arrivals, daemon=True)
    feeder.start()
    end = start + args.minutes * 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            print(log_path.read_text()[-3000:])
            raise SystemExit(f"daemon exited early with {proc.returncode}")
        cpu, rss, hwm = proc_stats(proc.pid)
        peak_rss = max(peak_rss, hwm)
        samples.append((time.monotonic() - start, cpu, rss))
        time.sleep(5)
    cpu, rss, hwm = proc_stats(proc.pid)
    wall = time.monotonic() - start
    t1 = datetime.now(timezone.utc)
    stop.set()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(120)
    self_cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    smtp.stop()
    fleet.stop()

    # Steady state: after the first interval (the start-up backlog is polled at once).
    first = next((c for t, c, _ in samples if t >= 60 * args.interval), cpu)
    steady_cpu = (cpu - first) / max(1.0, wall - 60 * args.interval)
    log_text = log_path.read_text(errors="replace")
    figures = {
        "accounts": args.accounts, "facebook": n_fb, "x": n_x, "interval_minutes": args.interval,
        "latency_s": args.latency,
        "minutes": round(wall / 60, 2), "comments_served": fleet.added,
        "daemon_cpu_seconds": round(cpu, 1), "daemon_cpu_share_of_one_core": round(cpu / wall, 3),
        "daemon_cpu_share_steady": round(steady_cpu, 3),
        "daemon_rss_mb_final": round(rss / 2**20, 1), "daemon_rss_mb_peak": round(max(peak_rss, hwm) / 2**20, 1),
        "fakes_cpu_seconds": round((self_cpu1.ru_utime + self_cpu1.ru_stime)
                                   - (self_cpu0.ru_utime + self_cpu0.ru_stime), 1),
        "missed_warnings": len(re.findall(r"was missed by", log_text)),
        "max_instances_warnings": len(re.findall(r"maximum number of running instances", log_text)),
        "sigterm_exit": rc,
        "emails_received": len(smtp.messages),
        **analyse(work / "scale.db", args.accounts, t0, t1, 60 * args.interval),
    }
    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
