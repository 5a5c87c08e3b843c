"""A real Prometheus (Debian's ``prometheus`` package) for tests, run with the project's config.

The configuration is ``deploy/prometheus/prometheus.yml`` with only what a test must change
rewritten: scrape targets (the test's ports instead of compose service names), intervals
(1 s, so a short run has data) and rule file paths (absolute). It listens on 127.0.0.1 on a
free port and keeps its data in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from pipeline.broker.process import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def rewrite_config(path: Path, targets: dict[str, str], port: int) -> Path:
    """Write the project's config with ``targets`` (job -> host:port); other jobs dropped."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str((CONFIG.parent / f).resolve()) for f in config["rule_files"]]
    targets = {**targets, "prometheus": f"127.0.0.1:{port}"}
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class PrometheusProcess:
    """``prometheus`` in a child process; ``query`` runs PromQL through the HTTP API."""

    def __init__(self, workdir: Path, targets: dict[str, str]) -> None:
        executable = shutil.which("prometheus")
        assert executable, "prometheus is not on PATH: run scripts/install-prometheus"
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        config = rewrite_config(workdir / "prometheus.yml", targets, self.port)
        self._log = (workdir / "prometheus.log").open("w")
        self.log_path = workdir / "prometheus.log"
        self._process = subprocess.Popen(
            [
                executable,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process.poll() is None, self.log_path.read_text()
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready: {self.log_path.read_text()}")

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as rsp:
            body = json.loads(rsp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one sample) ``expr`` evaluates to now."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
