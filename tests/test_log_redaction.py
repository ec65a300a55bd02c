"""No secret on screen or in the journal, whatever renders the line (issue 14, item 1).

With ``rich`` installed (it comes with the detoxify extra), structlog's console renderer
printed tracebacks with every frame's local variables: a tweepy frame showed
``Authorization: Bearer <token>``. These tests log exceptions whose frames hold a
registered secret in a local variable and whose message holds it too, through the real
configuration (console lines as on a TTY, JSON lines as journald gets them, and the
stdlib handler that APScheduler, tweepy and httpx log through), and through the
process-wide exception hooks. Each fails when :func:`monitor.logging.redact` is a no-op.

The last test runs ``school-monitor run`` on a pseudo-terminal against the fake X API
answering 200 with ``Content-Encoding: gzip`` and a body that is not gzip (the issue's
reproduction).
"""

from __future__ import annotations

import io
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import structlog

from monitor import logging as mlog

SECRET = "AAAAredactionTestBearer0123456789abcdefSECRET"
#: a local variable value that is not a secret: its absence shows that no locals are printed
LOCAL_MARKER = "local-variable-value-7f3e"


@pytest.fixture
def restore_logging():
    """Put structlog, the root logger and the exception hooks back as they were."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    mlog._SECRETS.discard(SECRET)


def _fail_with_secret_in_locals() -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}  # noqa: F841 - the local a traceback could show
    marker = LOCAL_MARKER  # noqa: F841
    raise RuntimeError(f"request failed with headers {{'Authorization': 'Bearer {SECRET}'}}")


def _log_exception(json_lines: bool) -> str:
    buf = io.StringIO()
    mlog.configure("INFO", stream=buf, json=json_lines)
    mlog.register_secret(SECRET)
    log = mlog.get_logger()
    try:
        _fail_with_secret_in_locals()
    except RuntimeError as exc:
        log.exception("poll_job_failed", account="brookfield-x", error=str(exc))
    return buf.getvalue()


def test_console_traceback_shows_no_locals_and_no_secret(restore_logging):
    out = _log_exception(json_lines=False)
    assert "poll_job_failed" in out and "Traceback" in out
    assert "_fail_with_secret_in_locals" in out, "the traceback itself must still be shown"
    assert SECRET not in out
    assert SECRET[10:30] not in out, "a part of the secret is shown"
    assert LOCAL_MARKER not in out, "the traceback shows local variables"
    assert "[REDACTED]" in out


def test_json_line_carries_the_redacted_traceback(restore_logging):
    out = _log_exception(json_lines=True)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    (event,) = [e for e in lines if e.get("event") == "poll_job_failed"]
    assert "Traceback" in event["exception"] and "_fail_with_secret_in_locals" in event["exception"]
    assert SECRET not in out and LOCAL_MARKER not in out
    assert "[REDACTED]" in event["exception"] and "[REDACTED]" in event["error"]


@pytest.mark.parametrize("json_lines", [False, True])
def test_secret_in_any_value_or_object_is_redacted_in_the_rendered_line(restore_logging, json_lines):
    class Opaque:  # a value the processor cannot look into: only the rendered line shows it
        def __repr__(self) -> str:
            return f"Opaque(token={SECRET})"

        __str__ = __repr__

    buf = io.StringIO()
    mlog.configure("INFO", stream=buf, json=json_lines)
    mlog.register_secret(SECRET)
    mlog.get_logger().warning("odd", thing=Opaque(), nested={"k": [f"x{SECRET}y"]})
    out = buf.getvalue()
    assert "odd" in out and "Opaque(token=[REDACTED])" in out
    assert SECRET not in out


def test_stdlib_log_records_and_their_tracebacks_are_redacted(restore_logging):
    buf = io.StringIO()
    mlog.configure("INFO", stream=buf, json=True)
    mlog.register_secret(SECRET)
    lg = logging.getLogger("apscheduler.executors.default")
    try:
        _fail_with_secret_in_locals()
    except RuntimeError:
        lg.exception("Job %r raised an exception", f"poll {SECRET}")
    out = buf.getvalue()
    assert "raised an exception" in out and "Traceback" in out
    assert SECRET not in out
    assert out.count("[REDACTED]") >= 2  # the message argument and the exception text


def test_uncaught_exceptions_are_printed_redacted(tmp_path):
    """In a fresh process (pytest installs its own thread hook): an exception nobody caught,
    in the main thread and in a worker thread, is printed without locals and redacted."""
    script = tmp_path / "boom.py"
    script.write_text(
        "import sys, threading\n"
        "from monitor import logging as mlog\n"
        "mlog.configure('INFO', stream='stderr')\n"
        f"mlog.register_secret({SECRET!r})\n"
        "def fail():\n"
        f"    marker = {LOCAL_MARKER!r}\n"
        f"    raise RuntimeError('refused Bearer ' + {SECRET!r})\n"
        "t = threading.Thread(target=fail, name='poller')\n"
        "t.start(); t.join()\n"
        "fail()\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    err = proc.stderr
    assert proc.returncode == 1
    assert err.count("Traceback") == 2 and "Exception in thread poller" in err, err
    assert err.count("RuntimeError: refused Bearer [REDACTED]") == 2, err
    assert SECRET not in err and LOCAL_MARKER not in err


def test_redact_replaces_every_registered_value():
    mlog.register_secret(SECRET)
    try:
        assert mlog.redact(f"a {SECRET} b {SECRET}") == "a [REDACTED] b [REDACTED]"
        assert mlog.redact("nothing secret here") == "nothing secret here"
    finally:
        mlog._SECRETS.discard(SECRET)


# ------------------------------------------------------------------ on a real terminal


def _read_pty(fd: int, until: float, stop_when=None) -> bytes:
    out = b""
    while time.monotonic() < until:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if stop_when is not None and stop_when(out):
            break
    return out


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_run_on_a_terminal_never_shows_the_x_token(tmp_path):
    """The issue's reproduction: X answers 200 with ``Content-Encoding: gzip`` and a body
    that is not gzip; ``school-monitor run`` writes to a pty (console lines, and rich
    tracebacks when rich is installed). The token must not appear on the terminal."""
    import pty

    import importlib.util
    from datetime import datetime, timezone

    spec = importlib.util.spec_from_file_location("reliability_support", Path(__file__).parent / "reliability"
                                                  / "conftest.py")
    support = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = support  # its dataclasses look their module up
    spec.loader.exec_module(support)
    X_TOKEN, X_TOKEN_ENV, FB_TOKEN_ENV = support.X_TOKEN, support.X_TOKEN_ENV, support.FB_TOKEN_ENV

    from monitor.fakes.dataset import load_demo_posts
    from monitor.fakes.x import FakeXServer
    from monitor.delivery.smtp_sink import SmtpSink

    posts = [p for p in load_demo_posts() if p.platform == "twitter"]
    with FakeXServer(posts, user_id="2000", username="BrookfieldPS", bearer_token=X_TOKEN,
                     rebase_to=datetime.now(timezone.utc)) as xsrv, SmtpSink(None) as smtp:
        cfg = tmp_path / "config.toml"
        support.write_config(cfg, "http://127.0.0.1:9", xsrv.base_url, smtp.port, only="twitter")
        xsrv.fail_next(1000, status=200, body=b"this body is not gzip", content_type="application/json",
                       headers={"Content-Encoding": "gzip"})
        env = {**os.environ, X_TOKEN_ENV: X_TOKEN, FB_TOKEN_ENV: support.FB_TOKEN, "COLUMNS": "120", "TERM": "xterm"}
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "--config", str(cfg)],
                                stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        try:
            # wait for the failed poll to be reported, then a little more for the rest of its lines
            out = _read_pty(master, time.monotonic() + 60,
                            stop_when=lambda b: b"brookfield-x" in b and b"gzip" in b.lower())
            out += _read_pty(master, time.monotonic() + 2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out += _read_pty(master, time.monotonic() + 1)
            os.close(master)
    text = out.decode("utf-8", "replace")
    assert xsrv.request_count > 0, "the daemon never called the fake X API"
    assert "gzip" in text.lower(), f"the failed poll was not reported:\n{text[-3000:]}"
    for needle in (X_TOKEN, X_TOKEN[8:28]):
        assert needle not in text, f"the X token appears on the terminal:\n{text[-3000:]}"


def test_console_lines_show_control_characters_visibly(restore_logging):
    """Issue 14, item 3: text from outside in a console log line (a platform's error text)
    cannot act on the terminal; JSON lines escape it anyway."""
    buf = io.StringIO()
    mlog.configure("INFO", stream=buf, json=False)
    log = mlog.get_logger()
    log.error("poll_failed", error="refused \x1b]0;owned\x07\x1b[2J \u202eevil")
    try:
        raise ValueError("Graph said \x1b]0;owned\x07 \u202eevil")
    except ValueError:
        log.exception("poll_job_failed")
    out = buf.getvalue()
    assert "refused \\x1b]0;owned\\x07\\x1b[2J \\u202eevil" in out
    assert "ValueError: Graph said \\x1b]0;owned\\x07 \\u202eevil" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
