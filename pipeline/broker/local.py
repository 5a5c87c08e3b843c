"""A single-node Apache Kafka (KRaft) for development and tests, run from Maven Central jars.

The jars are the official ``kafka_2.13`` artifacts listed in the packaged ``pom.xml``; Maven
fetches them once into a cache outside the repository (``cache_dir/kafka-<version>/libs``). The
broker's files live in ``data_dir``::

    data_dir/
      server.properties   rendered at every start
      log4j2.xml          rendered at every start; log4j2 writes to broker.log
      broker.log          the broker's log (log4j2, plus the JVM's stdout and stderr)
      broker.pid          the JVM's process id while it runs
      kraft/              metadata and topic data, formatted at the first start only

Choices made for a development broker:

- The controller listens on ``controller_port``; when that is ``None`` a free port is chosen at
  every start (one voter, static quorum, so the port may change between starts).
- ``auto.create.topics.enable=false``: ``linewatch topics create`` makes every topic the system
  uses, so a misspelt topic name fails loudly instead of creating a stray topic.
- Transactions work on one node: the transaction state log has replication factor 1 and
  ``min.isr`` 1, as have the offsets and share-group state topics.

The JVM runs detached in its own session (POSIX only), so it outlives the command that started it.
The configuration and the files rendered from it are in :mod:`pipeline.broker.config`, the jar
cache in :mod:`pipeline.broker.jars`, ports and processes in :mod:`pipeline.broker.process`.

Examples
--------
>>> broker = LocalBroker(BrokerConfig(port=19092, data_dir=Path("/tmp/lw-never-started")))
>>> broker.status().running
False
"""

from __future__ import annotations

import base64
import logging
import subprocess
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.broker import jars, process
from pipeline.broker.config import (
    GC_OPTIONS,
    SCRAM_MECHANISM,
    BrokerConfig,
    default_cache_dir,
    default_data_dir,
    render_log4j2_config,
    render_server_properties,
)
from pipeline.broker.jars import KAFKA_VERSION
from pipeline.errors import BrokerAlreadyRunning, BrokerError, PortInUse

__all__ = [
    "KAFKA_VERSION",
    "SCRAM_MECHANISM",
    "BrokerConfig",
    "BrokerStatus",
    "LocalBroker",
    "default_cache_dir",
    "default_data_dir",
    "render_log4j2_config",
    "render_server_properties",
]
logger = logging.getLogger(__name__)

_JAVA_HINT = (
    "the local Kafka broker runs on a JDK 17 or newer: install one "
    "(e.g. `apt install openjdk-17-jre-headless` or `brew install openjdk@17`) "
    "and put `java` on PATH"
)
_LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class BrokerStatus:
    """What :meth:`LocalBroker.status` found: ``bootstrap`` and ``pid`` only while it runs."""

    running: bool
    pid: int | None
    bootstrap: str | None
    data_dir: Path
    log_path: Path


class LocalBroker:
    """Fetch, format, start, stop and inspect the local single-node Kafka broker.

    Parameters
    ----------
    config
        Where and how the broker runs; the defaults suit a developer machine.
    """

    def __init__(self, config: BrokerConfig | None = None) -> None:
        config = config if config is not None else BrokerConfig()
        # Absolute paths: the pid check looks for server.properties in the JVM's command line.
        self.config = replace(
            config,
            data_dir=config.data_dir.expanduser().absolute(),
            cache_dir=config.cache_dir.expanduser().absolute(),
        )

    def __repr__(self) -> str:
        return f"LocalBroker({self.config!r})"

    def has_jars(self) -> bool:
        """Whether the jar cache is complete for the packaged ``pom.xml``."""
        return jars.jars_complete(self.config.jars_dir)

    def ensure_jars(self) -> Path:
        """Fetch the jars with Maven unless the cache has them all; return their directory.

        A marker holding the pom's digest is written last, so a half-fetched cache (or one of
        another pom) is fetched again. Raises :class:`ConfigError` when ``mvn`` is needed and
        missing, :class:`BrokerError` when Maven fails.
        """
        return jars.ensure_jars(self.config.jars_dir)

    def start(self, timeout_s: float = 90.0) -> BrokerStatus:
        """Start the broker and return once it answers a metadata request.

        Raises :class:`ConfigError` (no ``java``/``mvn``), :class:`BrokerAlreadyRunning`,
        :class:`PortInUse`, or :class:`BrokerError` (it died or did not answer in time; the
        message ends with the tail of the log).
        """
        java = jars.require_tool("java", _JAVA_HINT)
        classpath = str(self.ensure_jars() / "*")
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_running()
        controller_port = self._claim_ports()
        self._write_files(controller_port)
        if not (self.config.kraft_dir / "meta.properties").exists():
            self._format(java, classpath)
        pid = self._spawn(java, classpath)
        self.config.pid_path.write_text(f"{pid}\n")
        logger.info("broker starting", extra={"pid": pid, "bootstrap": self.config.bootstrap})
        self._wait_ready(pid, timeout_s)
        return self.status()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker: SIGTERM, then SIGKILL after ``timeout_s``.

        Returns ``False`` (and does nothing else but remove a stale pid file) when no broker
        runs on this data dir.
        """
        pid = self._running_pid()
        if pid is None:
            self.config.pid_path.unlink(missing_ok=True)
            logger.info("no broker running", extra={"data_dir": str(self.config.data_dir)})
            return False
        process.terminate(pid, timeout_s)
        self.config.pid_path.unlink(missing_ok=True)
        return True

    def status(self) -> BrokerStatus:
        """Whether a broker started from this data dir runs, and where."""
        pid = self._running_pid()
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self._advertised_bootstrap() if pid is not None else None,
            data_dir=self.config.data_dir,
            log_path=self.config.log_path,
        )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the broker's log ("" when there is none)."""
        try:
            text = self.config.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.config.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not process.alive(pid):
            return None
        command = process.command_line(pid)
        if command is not None and str(self.config.properties_path) not in command:
            return None  # the pid was reused by an unrelated process
        return pid

    def _refuse_if_running(self) -> None:
        current = self.status()
        if current.running:
            raise BrokerAlreadyRunning(
                f"a broker already runs on {current.bootstrap} (pid {current.pid}, "
                f"data dir {self.config.data_dir})"
            )
        self.config.pid_path.unlink(missing_ok=True)

    def _claim_ports(self) -> int:
        config = self.config
        controller_port = config.controller_port or process.free_port(config.host)
        for port in (config.port, controller_port):
            if not process.port_is_free(config.host, port):
                raise PortInUse(
                    f"port {config.host}:{port} is taken by another process; stop it or choose "
                    f"another port (a linewatch broker on another data dir may hold it)"
                )
        return controller_port

    def _write_files(self, controller_port: int) -> None:
        config = self.config
        config.properties_path.touch(mode=0o600)  # may hold the SASL password
        config.properties_path.chmod(0o600)
        config.properties_path.write_text(render_server_properties(config, controller_port))
        config.log4j_path.write_text(render_log4j2_config(config.log_path))

    def _jvm_args(self, java: str, classpath: str) -> list[str]:
        return [
            java,
            f"-Xms{self.config.heap}",
            f"-Xmx{self.config.heap}",
            *GC_OPTIONS,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.config.log4j_path}",
            "-cp",
            classpath,
        ]

    def _format(self, java: str, classpath: str) -> None:
        command = [*self._jvm_args(java, classpath), "kafka.tools.StorageTool", "format"]
        command += [
            "--ignore-formatted",
            "-t",
            _cluster_id(),
            "-c",
            str(self.config.properties_path),
        ]
        if self.config.sasl:
            user = f"name={self.config.sasl_username},password={self.config.sasl_password}"
            command += ["--add-scram", f"{SCRAM_MECHANISM}=[{user}]"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting {self.config.kraft_dir} failed:\n{result.stdout}{result.stderr}"
            )
        logger.info("formatted the KRaft log dir", extra={"dir": str(self.config.kraft_dir)})

    def _spawn(self, java: str, classpath: str) -> int:
        argv = [*self._jvm_args(java, classpath), "kafka.Kafka", str(self.config.properties_path)]
        return process.spawn_detached(argv, self.config.log_path)

    def _wait_ready(self, pid: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not process.alive(pid):
                self.config.pid_path.unlink(missing_ok=True)
                raise BrokerError(f"the broker exited while starting; {self._tail_message()}")
            if process.answers(self.config.host, self.config.port, self.config.client_config):
                return
            time.sleep(0.25)
        process.terminate(pid, timeout_s=10.0)
        self.config.pid_path.unlink(missing_ok=True)
        raise BrokerError(
            f"the broker did not answer within {timeout_s:g}s and was stopped; "
            f"{self._tail_message()}"
        )

    def _tail_message(self) -> str:
        return f"last lines of {self.config.log_path}:\n{self.log_tail()}"

    def _advertised_bootstrap(self) -> str:
        try:
            text = self.config.properties_path.read_text()
        except FileNotFoundError:
            return self.config.bootstrap
        for line in text.splitlines():
            if line.startswith("advertised.listeners="):
                return line.partition("://")[2].split(",")[0]
        return self.config.bootstrap


def _cluster_id() -> str:
    """A Kafka cluster id, as ``kafka-storage random-uuid`` makes it, without starting a JVM."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
