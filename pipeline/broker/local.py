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
The jar cache is handled in :mod:`pipeline.broker.jars`, ports and processes in
:mod:`pipeline.broker.process`.

Examples
--------
>>> config = BrokerConfig(port=19092, data_dir=Path("/tmp/lw"))
>>> config.bootstrap
'127.0.0.1:19092'
>>> "auto.create.topics.enable=false" in render_server_properties(config, controller_port=19093)
True
"""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import quoteattr

from pipeline.broker import jars, process
from pipeline.broker.jars import KAFKA_VERSION
from pipeline.errors import BrokerAlreadyRunning, BrokerError, ConfigError, PortInUse

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
_SCRAM_SAFE = re.compile(r"[A-Za-z0-9_.:@!#%+-]{1,128}")
SCRAM_MECHANISM = "SCRAM-SHA-256"


def default_data_dir() -> Path:
    """``~/.local/share/linewatch/broker``: where the broker keeps its data and log."""
    return Path.home() / ".local" / "share" / "linewatch" / "broker"


def default_cache_dir() -> Path:
    """``~/.cache/linewatch``: the cache root; the jars go in ``kafka-<version>`` below it."""
    return Path.home() / ".cache" / "linewatch"


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how the local broker runs.

    Parameters
    ----------
    host
        The address both listeners bind to and the broker advertises.
    port
        The client (PLAINTEXT) port.
    controller_port
        The KRaft controller port; ``None`` picks a free port at every start.
    data_dir
        Configuration, pid file, log and KRaft data.
    cache_dir
        Cache root; the jars go in ``cache_dir/kafka-<version>``, shared by every data dir.
    heap
        The JVM's maximum heap (``-Xmx``).
    sasl_username, sasl_password
        When both are set, the client port requires SASL/SCRAM-SHA-256 (``SASL_PLAINTEXT``) and
        this user is created when the data dir is formatted (its first start). ``None``: plain.
    """

    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    heap: str = "512m"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.sasl_username is None) != (self.sasl_password is None):
            raise ConfigError("SASL needs both a username and a password")
        for value in (self.sasl_username, self.sasl_password):
            if value is not None and not _SCRAM_SAFE.fullmatch(value):
                raise ConfigError(
                    "SASL usernames and passwords of the local broker may use letters, digits "
                    "and -_.:@!#%+ only (at least 1, at most 128 characters)"
                )

    @property
    def sasl(self) -> bool:
        """Whether the client port requires SASL/SCRAM."""
        return self.sasl_username is not None

    @property
    def client_config(self) -> dict[str, str]:
        """librdkafka properties that reach this broker (with the SCRAM credentials if any)."""
        config = {"bootstrap.servers": self.bootstrap}
        if self.sasl_username is not None and self.sasl_password is not None:
            config |= {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": SCRAM_MECHANISM,
                "sasl.username": self.sasl_username,
                "sasl.password": self.sasl_password,
            }
        return config

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"

    @property
    def jars_dir(self) -> Path:
        """The cached jars of this Kafka version (``<jars_dir>/libs/*.jar``)."""
        return self.cache_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def log_path(self) -> Path:
        """The broker's log file."""
        return self.data_dir / "broker.log"

    @property
    def pid_path(self) -> Path:
        """The pid file, present while the broker runs."""
        return self.data_dir / "broker.pid"

    @property
    def properties_path(self) -> Path:
        """The rendered ``server.properties``."""
        return self.data_dir / "server.properties"

    @property
    def log4j_path(self) -> Path:
        """The rendered log4j2 configuration."""
        return self.data_dir / "log4j2.xml"

    @property
    def kraft_dir(self) -> Path:
        """``log.dirs``: the metadata log and the topic data."""
        return self.data_dir / "kraft"


@dataclass(frozen=True)
class BrokerStatus:
    """What :meth:`LocalBroker.status` found: ``bootstrap`` and ``pid`` only while it runs."""

    running: bool
    pid: int | None
    bootstrap: str | None
    data_dir: Path
    log_path: Path


def render_server_properties(config: BrokerConfig, controller_port: int) -> str:
    """The ``server.properties`` of a combined broker+controller node with one voter."""
    host = config.host
    client = "SASL_PLAINTEXT" if config.sasl else "PLAINTEXT"
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"{client}://{host}:{config.port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"{client}://{host}:{config.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": client,
        "listener.security.protocol.map": f"{client}:{client},CONTROLLER:PLAINTEXT",
        **_sasl_properties(config),
        "log.dirs": str(config.kraft_dir),
        "auto.create.topics.enable": "false",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    lines = [f"{key}={_escape_property(value)}" for key, value in properties.items()]
    return (
        "# Written by linewatch at every `broker start`; edits are overwritten.\n"
        + "\n".join(lines)
        + "\n"
    )


def _sasl_properties(config: BrokerConfig) -> dict[str, str]:
    """SCRAM on the client listener; the broker logs in to itself as the configured user."""
    if not config.sasl:
        return {}
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{config.sasl_username}" password="{config.sasl_password}";'
    )
    return {
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": jaas,
    }


def render_log4j2_config(log_path: Path) -> str:
    """A log4j2 configuration that appends Kafka's log lines to ``log_path``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by linewatch at every `broker start`; edits are overwritten. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <File name="broker" fileName={quoteattr(str(log_path))} append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Root level="INFO">
      <AppenderRef ref="broker"/>
    </Root>
  </Loggers>
</Configuration>
"""


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
            f"-Xmx{self.config.heap}",
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


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def _cluster_id() -> str:
    """A Kafka cluster id, as ``kafka-storage random-uuid`` makes it, without starting a JVM."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
