"""SIGKILL of ``school-monitor run`` aimed at SMTP delivery, again and again: a crash loop
(issue 14, item 11).

The daemon runs as a real subprocess against the fake Graph and X APIs and the aiosmtpd
sink on 127.0.0.1 (fixture ``platforms``). Each SMTP acceptance is slowed by 20 ms
*after* the sink has recorded the message and before it answers 250, i.e. inside the
window where a kill makes a duplicate (the server has the message, the store does not
yet say ``sent``). New comments, escalations among them, arrive before every run. Each
run is killed with SIGKILL 0 to 50 ms after the sink received a message (or after
:data:`RUN_SECONDS` if it sent nothing): no process lives as long as the outbox's wait
for a cut-off message (``retry_max_minutes`` = 0.25 here, 15 s), just as in a systemd
restart loop. Then one run is left alone until everything is delivered, and stopped with
SIGTERM.

Measured: kills, duplicate deliveries (same Message-ID received again), and the most
copies of one message. Before the fix (issue 14: 10 duplicates in 36 kills, one
escalation 8 times) the first message of the queue was resent by every restarted
process. Now each attempt is recorded before the message leaves; a cut-off message
waits, so the next kills land on other messages; and one crash loop never sends a
message more than twice.

``SM_KILL_SEED`` picks another random sequence; ``SM_DELIVERY_KILLS`` another count.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter

import pytest

from tests.reliability.test_kill import add_comments, slow_down, start_daemon, wait_idle

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("SM_DELIVERY_KILLS", "10"))
#: A run that delivers nothing is killed after this many seconds (< the 15 s cut-off wait).
RUN_SECONDS = 8.0


def kill_at_delivery(platforms, proc, rnd: random.Random) -> bool:
    """SIGKILL 0-50 ms after the SMTP sink received a message from this run (or after
    :data:`RUN_SECONDS`). Returns True when a delivery was under way."""
    received0 = len(platforms.smtp.messages)
    deadline = time.monotonic() + RUN_SECONDS
    seen = False
    while time.monotonic() < deadline and proc.poll() is None:
        if len(platforms.smtp.messages) > received0:
            seen = True
            break
        time.sleep(0.002)
    time.sleep(rnd.uniform(0.0, 0.05))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return seen


def test_crash_loop_at_delivery_sends_each_message_at_most_twice(platforms, tmp_path):
    rnd = random.Random(int(os.environ.get("SM_KILL_SEED", "20261204")))
    platforms.reconfigure(extra_alerts="\nretry_max_minutes = 0.25")
    log_path = tmp_path / "daemon.log"
    slow_down(platforms, 0.01)
    at_delivery = 0
    for run in range(KILLS):
        add_comments(platforms, rnd, run + 1, per_platform=2)
        proc = start_daemon(platforms, log_path)
        assert proc.poll() is None, f"daemon exited early: {log_path.read_text()[-2000:]}"
        at_delivery += kill_at_delivery(platforms, proc, rnd)
    in_loop = Counter(platforms.received_message_ids())

    served = platforms.served_comment_ids()
    expected = sum(len(v) for v in served.values())
    proc = start_daemon(platforms, log_path)
    try:
        wait_idle(platforms, expected, timeout=120)
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0, f"SIGTERM exit status {rc}: {log_path.read_text()[-2000:]}"

    conn = sqlite3.connect(platforms.db_path)
    sent = [r[0] for r in conn.execute("SELECT message_id FROM messages WHERE status = 'sent'")]
    alert_ids = {r[0] for r in conn.execute("SELECT id FROM alerts")}
    escalation_ids = {r[0] for r in conn.execute("SELECT message_id FROM alerts WHERE kind = 'escalation'")}
    unsent_alerts = conn.execute("SELECT COUNT(*) FROM alerts WHERE status != 'sent'").fetchone()[0]
    conn.close()
    total = Counter(platforms.received_message_ids())
    duplicates = sum(n - 1 for n in total.values())
    loop_duplicates = sum(n - 1 for n in in_loop.values())
    worst_id, worst = in_loop.most_common(1)[0] if in_loop else ("-", 0)
    worst_escalation = max((n for mid, n in in_loop.items() if mid in escalation_ids), default=0)
    print(f"\nkills={KILLS} at delivery={at_delivery} messages={len(sent)} escalations={len(escalation_ids)} "
          f"duplicates in the crash loop={loop_duplicates} duplicates in all={duplicates} "
          f"most copies of one message in the loop={worst} (escalation {worst_escalation}) "
          f"most copies in all={max(total.values(), default=0)}")

    assert at_delivery >= KILLS // 2, "the kills did not land on deliveries"
    mailed = {int(i) for m in list(platforms.smtp.messages)
              for i in str(m.get("X-School-Monitor-Alerts") or "").split(",") if i.strip().isdigit()}
    assert alert_ids <= mailed and unsent_alerts == 0, f"alerts never emailed: {sorted(alert_ids - mailed)[:10]}"
    assert set(total) == set(sent), "a message was lost or sent without being recorded"
    # The crash loop sends no message more than twice (the resend after one cut-off
    # attempt); always with the same Message-ID (same stored bytes).
    assert worst <= 2, in_loop.most_common(3)
    assert duplicates <= at_delivery, total.most_common(3)
