"""``school-monitor run`` speaks the systemd notify protocol the unit expects
(``Type=notify``, ``WatchdogSec=``): READY=1 once scheduled, WATCHDOG=1 while alive,
STOPPING=1 on SIGTERM, then exit 0. The test plays systemd: it binds the
``$NOTIFY_SOCKET`` datagram socket and sets ``$WATCHDOG_USEC``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time



CONFIG = """
[school]
name = "Notify Test School"

[alerts]
enabled = false

[reports]
send = false
out_dir = "reports"

[storage]
path = "notify.db"
"""


def _receive_until(sock: socket.socket, wanted: str, deadline: float, seen: list[str]) -> bool:
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(data)
        if wanted in data.split("\n"):
            return True
    return False


def test_run_sends_ready_watchdog_and_stopping(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    sock_path = str(tmp_path / "notify.sock")
    seen: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(sock_path)
        env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "4000000"}
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "--config", str(cfg)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            assert _receive_until(sock, "READY=1", time.monotonic() + 60, seen), seen
            watchdogs = 0
            end = time.monotonic() + 6
            while time.monotonic() < end:
                if _receive_until(sock, "WATCHDOG=1", end, seen):
                    watchdogs += 1
            # WatchdogSec of 4 s: pings at least every 2 s (half the timeout).
            assert watchdogs >= 3, seen
            proc.send_signal(signal.SIGTERM)
            assert _receive_until(sock, "STOPPING=1", time.monotonic() + 30, seen), seen
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
