"""``report --send`` sends the report and nothing else (issue 14, item 18): before, it also
flushed the outbox, emailing the 83 alerts (47 escalations) queued in a trial replay's store."""

from __future__ import annotations

from pathlib import Path

from monitor.cli import main
from monitor.demo_data import path as demo_path
from monitor.delivery.smtp_sink import SmtpSink
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_report_send_sends_only_the_report(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "spine"))
    from helpers import write_config

    with SmtpSink() as smtp:
        conf = write_config(tmp_path, smtp_port=smtp.port)
        trial = tmp_path / "trial.db"
        assert main(["replay", str(demo_path("comments.jsonl")), "--config", str(conf), "--db", str(trial)]) == 0
        store = Store.open(trial)
        pending = store.scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'")
        store.close()
        assert pending > 40
        capsys.readouterr()
        assert main(["report", "--config", str(conf), "--db", str(trial), "--week", "2026-W41", "--send"]) == 0
        assert [m["X-School-Monitor-Report"] for m in smtp.messages] == ["2026-W41"]
    store = Store.open(trial)
    try:
        assert store.scalar("SELECT COUNT(*) FROM alerts WHERE status = 'pending'") == pending
        assert store.scalar("SELECT COUNT(*) FROM messages WHERE kind != 'report'") == 0
        assert store.scalar("SELECT status FROM reports WHERE week = '2026-W41'") == "sent"
    finally:
        store.close()
