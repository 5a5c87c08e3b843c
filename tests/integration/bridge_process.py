"""``linewatch bridge ...`` in a child process, with its stderr (JSON log lines) to read."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


class BridgeProcess:
    """Start ``linewatch bridge ARGS``; ``wait_for`` a log text; ``stop()`` sends SIGTERM."""

    def __init__(self, directory: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self._stderr_path = directory / f"bridge-{time.monotonic_ns()}.stderr"
        self._stderr = self._stderr_path.open("w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "bridge", *args],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    @property
    def stderr(self) -> str:
        return self._stderr_path.read_text()

    def wait_for(self, text: str, count: int = 1, timeout_s: float = 30.0) -> None:
        """Wait until ``text`` appears ``count`` times in the bridge's stderr."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stderr.count(text) >= count:
                return
            assert self._process.poll() is None, self.stderr
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen {count} times: {self.stderr}")

    def metrics(self) -> dict[str, float]:
        """The bridge's /metrics samples, ``name{labels}`` -> value."""
        found = re.search(r"metrics at (http://\S+)", self.stderr)
        assert found, self.stderr
        with urllib.request.urlopen(found.group(1), timeout=10) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        return samples

    def wait(self, timeout_s: float = 30.0) -> int:
        """Wait for the bridge to exit by itself; its exit code."""
        try:
            return self._process.wait(timeout=timeout_s)
        finally:
            self._stderr.close()

    def stop(self, timeout_s: float = 30.0) -> int:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise
        finally:
            self._stderr.close()
