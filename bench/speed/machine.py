"""The machine and the versions a run measured: CPU, cores, Python and client libraries."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import confluent_kafka

__all__ = ["describe"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _quix_versions(python: Path) -> str:
    """quixstreams and its confluent-kafka/librdkafka, asked of the bench venv's interpreter."""
    if not python.exists():
        return "not installed (scripts/setup-bench)"
    code = (
        "import confluent_kafka, importlib.metadata as m;"
        "print(m.version('quixstreams'), m.version('confluent-kafka'),"
        " confluent_kafka.libversion()[0])"
    )
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        return "unknown"
    quix, client, lib = found.stdout.split()
    return f"{quix} (with confluent-kafka {client}, librdkafka {lib})"


def describe(quix_python: Path, kafka: str) -> list[tuple[str, str]]:
    """``(what, value)`` rows: machine, load, and every version that matters to the numbers."""
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores (nproc)"),
        ("load average at start", " ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("Python", platform.python_version()),
        ("confluent-kafka", metadata.version("confluent-kafka")),
        ("librdkafka", confluent_kafka.libversion()[0]),
        ("river", metadata.version("river")),
        ("numpy", metadata.version("numpy")),
        ("quixstreams", _quix_versions(quix_python)),
        ("Kafka", kafka),
    ]
