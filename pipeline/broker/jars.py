"""The local broker's jars: fetched once by Maven from the packaged ``pom.xml`` into a cache.

The cache directory holds ``libs/*.jar``, a copy of the pom and a ``.complete`` marker with the
pom's SHA-256, written last: a half-fetched cache, or one fetched for another pom, is redone.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from pipeline.errors import BrokerError, ConfigError

__all__ = ["KAFKA_VERSION", "ensure_jars", "jars_complete", "pom_bytes", "require_tool"]
logger = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
"""The Kafka version in the packaged ``pom.xml`` (a unit test keeps the two equal)."""

_MVN_HINT = (
    "Maven fetches the Kafka jars once into the cache: install it "
    "(e.g. `apt install maven` or `brew install maven`) and put `mvn` on PATH"
)
_MARKER = ".complete"
_OUTPUT_TAIL_LINES = 30


def require_tool(name: str, hint: str) -> str:
    """The path of the executable ``name`` on PATH; :class:`ConfigError` with ``hint`` if none."""
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"`{name}` was not found on PATH: {hint}")
    return path


def pom_bytes() -> bytes:
    """The packaged ``pipeline/broker/pom.xml``."""
    return resources.files("pipeline.broker").joinpath("pom.xml").read_bytes()


def jars_complete(jars_dir: Path) -> bool:
    """Whether ``jars_dir`` holds every jar of the packaged pom."""
    try:
        return (jars_dir / _MARKER).read_text().strip() == _digest()
    except FileNotFoundError:
        return False


def ensure_jars(jars_dir: Path) -> Path:
    """Fetch the jars into ``jars_dir`` unless they are complete; return ``jars_dir / "libs"``.

    Concurrent callers wait on a lock file next to ``jars_dir``. Raises :class:`ConfigError`
    when ``mvn`` is needed and missing, :class:`BrokerError` when Maven fails.
    """
    if not jars_complete(jars_dir):
        mvn = require_tool("mvn", _MVN_HINT)
        jars_dir.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(jars_dir.with_name(jars_dir.name + ".lock")):
            if not jars_complete(jars_dir):
                _fetch(mvn, jars_dir)
                (jars_dir / _MARKER).write_text(_digest() + "\n")
    return jars_dir / "libs"


def _digest() -> str:
    return hashlib.sha256(pom_bytes()).hexdigest()


def _fetch(mvn: str, jars_dir: Path) -> None:
    shutil.rmtree(jars_dir, ignore_errors=True)
    jars_dir.mkdir(parents=True)
    pom = jars_dir / "pom.xml"
    pom.write_bytes(pom_bytes())
    logger.info("fetching the Kafka jars with Maven", extra={"dir": str(jars_dir)})
    command = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
    command += [f"-DoutputDirectory={jars_dir / 'libs'}", "-DincludeScope=runtime"]
    result = subprocess.run(command, cwd=jars_dir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-_OUTPUT_TAIL_LINES:])
        raise BrokerError(f"Maven could not fetch the Kafka jars into {jars_dir}:\n{output}")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
