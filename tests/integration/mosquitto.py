"""A real Mosquitto broker (Debian's package, installed by scripts/install-mosquitto) for tests.

Started on a free port bound to 127.0.0.1 with a generated config and its own persistence
directory, so it can be stopped and started again with its sessions and queued messages intact.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from pipeline.broker.process import free_port

__all__ = ["Mosquitto", "mosquitto_binary"]


def mosquitto_binary() -> str:
    """The mosquitto executable; fail clearly if it is not installed."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if found is None:
        raise AssertionError("mosquitto is not installed: run scripts/install-mosquitto")
    return found


class Mosquitto:
    """One mosquitto process; ``start``/``stop`` may be called repeatedly (same port, same data)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port("127.0.0.1")
        self.config = directory / "mosquitto.conf"
        self.log_path = directory / "mosquitto.log"
        user = "user root\n" if os.geteuid() == 0 else ""  # as root it would switch user
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            f"log_dest file {self.log_path}\n"
            "max_queued_messages 100000\n"
            f"{user}"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process.poll() is None, self.log()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its sessions to disk) and wait."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
