"""JSON log lines of ``log.exception`` carry the traceback as text, redacted like every
other value (issue 14, item 9): journald gets what went wrong, never a secret."""

from __future__ import annotations

import io
import json


def test_json_log_lines_carry_the_redacted_traceback_of_log_exception():
    from monitor.logging import configure, get_logger, register_secret

    secret = "tok-json-traceback-5f1c2b9a"
    register_secret(secret)
    buf = io.StringIO()
    configure("INFO", stream=buf, json=True)
    try:
        try:
            raise RuntimeError(f"request failed with Authorization: Bearer {secret}")
        except RuntimeError:
            get_logger().exception("poll_job_failed", account="x")
    finally:
        configure("INFO", stream="stderr")
    line = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert line["event"] == "poll_job_failed" and "exc_info" not in line
    assert "Traceback (most recent call last)" in line["exception"] and "RuntimeError" in line["exception"]
    assert secret not in buf.getvalue() and "[REDACTED]" in line["exception"]
