"""SIGKILL of ``school-monitor run`` at random points during polling and delivery.

The daemon runs as a real subprocess against the fake Graph API, the fake X API and an
SMTP server, all on 127.0.0.1 in this process (fixture ``platforms``). It is killed with
SIGKILL several times at random moments, with new comments (escalations among them)
arriving between runs; then it runs until idle and is stopped with SIGTERM. Afterwards:

* every comment the platforms serve is stored exactly once (one row, one version, one
  assessment): none lost, none doubled;
* every alert was delivered, exactly once: the Message-IDs the SMTP server received are
  exactly the messages the store marks sent. The only possible duplicate is a kill
  between the SMTP server's acceptance and the commit of ``status = 'sent'`` (a few
  milliseconds, see :mod:`monitor.outbox`); such a resend carries the same Message-ID,
  so it is counted separately, reported, and must stay within the number of kills;
* SIGTERM makes the daemon finish its unit of work and exit 0.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

PARTS = ("monitor.fakes.graph", "monitor.fakes.x", "connectors.facebook", "connectors.twitter",
         "monitor.outbox", "monitor.reports", "monitor.daemon", "monitor.smtp_sink", "monitor.demo")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in PARTS), reason="daemon or fakes not landed"),
]

KILLS = 6
NEW_COMMENTS = [
    "I know where Mr Okafor parks, he'd better watch himself",  # threat_violence: escalation
    "Mrs Ashworth hit my son in the playground, she should be sacked",  # allegation_staff
    "Lovely photos from sports day, thank you!",
    "The new lunch menu is awful, nobody asked the parents",
]


def start_daemon(platforms, log_path: Path) -> subprocess.Popen:
    """``school-monitor run`` as a subprocess (its own session, so a kill hits it alone)."""
    env = {**os.environ, **platforms.env, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "--config", str(platforms.config_path)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def snapshot(db: Path) -> dict:
    """Counts from the store, read through a separate connection (WAL allows it)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "comments": q("SELECT COUNT(*) FROM comments"),
            "new": q("SELECT COUNT(*) FROM comments WHERE status = 'new'"),
            "alerts_pending": q("SELECT COUNT(*) FROM alerts WHERE status NOT IN ('sent')"),
            "messages_unsent": q("SELECT COUNT(*) FROM messages WHERE status != 'sent'"),
            "messages": q("SELECT COUNT(*) FROM messages"),
        }
    except sqlite3.OperationalError:  # schema not created yet
        return {}
    finally:
        conn.close()


def wait_idle(platforms, expected: int, timeout: float = 90.0) -> dict:
    """Wait until every served comment is stored and assessed and nothing is left to send."""
    deadline = time.monotonic() + timeout
    snap: dict = {}
    while time.monotonic() < deadline:
        snap = snapshot(platforms.db_path)
        if snap and snap["comments"] >= expected and snap["new"] == 0 and snap["alerts_pending"] == 0 \
                and snap["messages_unsent"] == 0 and snap["messages"] > 0:
            return snap
        time.sleep(0.5)
    raise AssertionError(f"daemon not idle after {timeout} s: {snap} (expected {expected} comments)")


def add_comments(platforms, rnd: random.Random, run: int) -> None:
    """New comments on both platforms, on the newest posts, between two runs."""
    now = datetime.now(timezone.utc)
    fb_post = platforms.graph.posts[-1].native_id
    x_post = max((i for i in platforms.x.tweet_ids if i not in set(platforms.x.reply_ids)), key=int)
    for i in range(rnd.randint(1, 3)):
        text = rnd.choice(NEW_COMMENTS) + f" ({run}.{i})"
        platforms.graph.add_comment(fb_post, text, author_id=str(1500 + run), author_name=f"Parent {run}",
                                    created_at=now - timedelta(seconds=30 - i))
        platforms.x.add_reply(x_post, text, author_id=str(3500 + run), username=f"parent{run}")


def test_sigkill_at_random_points_loses_nothing_and_sends_once(platforms, tmp_path):
    rnd = random.Random(int(os.environ.get("SM_KILL_SEED", "20261121")))
    log_path = tmp_path / "daemon.log"
    kills = 0
    at_kill: list[dict] = []
    for run in range(KILLS):
        proc = start_daemon(platforms, log_path)
        # Start-up (imports, scorer) takes about a second; kill anywhere in the first
        # polls, the assessment of the backlog, and the deliveries that follow.
        time.sleep(rnd.uniform(0.8, 5.0))
        assert proc.poll() is None, f"daemon exited early: {log_path.read_text()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        kills += 1
        at_kill.append(snapshot(platforms.db_path))
        add_comments(platforms, rnd, run)

    # The kills must have interrupted real work, not only start-up or idle time.
    busy = [s for s in at_kill if s and (s["new"] or s["messages_unsent"] or s["alerts_pending"])]
    assert busy, f"no kill landed while comments or mail were pending: {at_kill}"
    served = platforms.served_comment_ids()
    expected = sum(len(v) for v in served.values())
    proc = start_daemon(platforms, log_path)
    try:
        wait_idle(platforms, expected)
        time.sleep(1.0)  # a last poll round finds nothing new
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0, f"SIGTERM exit status {rc}: {log_path.read_text()[-2000:]}"

    conn = sqlite3.connect(platforms.db_path)
    allowed = platforms.served_comment_ids(include_school_replies=True)
    stored = {p: {r[0] for r in conn.execute("SELECT comment_id FROM comments WHERE platform = ?", [p])}
              for p in ("facebook", "twitter")}
    for p in stored:
        assert served[p] <= stored[p], f"{p}: lost {served[p] - stored[p]}"
        assert stored[p] <= allowed[p], f"{p}: stored comments nobody served: {stored[p] - allowed[p]}"
    n_stored = sum(len(v) for v in stored.values())
    assert conn.execute("SELECT COUNT(*) FROM comment_versions").fetchone()[0] == n_stored, "a comment stored twice"
    assert conn.execute("SELECT COUNT(*) FROM assessments").fetchone()[0] == n_stored, "a comment assessed twice"
    assert conn.execute("SELECT COUNT(*) FROM comments WHERE status != 'assessed'").fetchone()[0] == 0

    sent = [r[0] for r in conn.execute("SELECT message_id FROM messages WHERE status = 'sent'")]
    escalations = conn.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'escalation'").fetchone()[0]
    unsent_alerts = conn.execute("SELECT COUNT(*) FROM alerts WHERE status != 'sent'").fetchone()[0]
    conn.close()
    received = platforms.received_message_ids()
    counts = Counter(received)
    duplicates = sum(n - 1 for n in counts.values())
    assert escalations > 0 and unsent_alerts == 0
    assert set(counts) == set(sent), "a message was lost or sent without being recorded"
    assert len(sent) == len(set(sent))
    # The documented window (accepted by SMTP, killed before the commit): a resend with
    # the same Message-ID. Never more than one per kill; almost always none.
    assert duplicates <= kills, counts.most_common(3)
    print("\nstate at each kill:", *at_kill, sep="\n  ")
    print(f"kills={kills} busy={len(busy)} comments={expected} messages={len(sent)} escalations={escalations} "
          f"duplicate deliveries={duplicates}")
