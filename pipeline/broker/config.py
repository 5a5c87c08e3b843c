"""Where and how the local broker runs, and the files it starts from.

:class:`BrokerConfig` holds the ports, directories, heap and SCRAM credentials;
:func:`render_server_properties` and :func:`render_log4j2_config` turn it into the
``server.properties`` and log4j2 configuration that :class:`pipeline.broker.local.LocalBroker`
writes at every start.

Examples
--------
>>> config = BrokerConfig(port=19092, data_dir=Path("/tmp/lw"))
>>> config.bootstrap
'127.0.0.1:19092'
>>> "auto.create.topics.enable=false" in render_server_properties(config, controller_port=19093)
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from pipeline.broker.jars import KAFKA_VERSION
from pipeline.errors import ConfigError

__all__ = [
    "GC_OPTIONS",
    "SCRAM_MECHANISM",
    "BrokerConfig",
    "default_cache_dir",
    "default_data_dir",
    "render_log4j2_config",
    "render_server_properties",
]

_SCRAM_SAFE = re.compile(r"[A-Za-z0-9_.:@!#%+-]{1,128}")
SCRAM_MECHANISM = "SCRAM-SHA-256"

GC_OPTIONS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:G1HeapRegionSize=8m",
)
"""The JVM's garbage collector options: those of Kafka's own ``kafka-run-class.sh``, plus
regions of 8 MB (Kafka's operations guide suggests 16 MB for its 6 GB heap).

With the JVM's defaults (1 MB regions for a heap this size, 200 ms pause goal) every request of
512 KB or more, such as a service's 1 MB produce request of snapshots, is a humongous object:
allocated straight in the old generation, where it starts a concurrent marking cycle that
holds one of a 2-core machine's cores for hundreds of milliseconds. At 30,000 readings/s
through ``linewatch serve`` (the speed bench's latency arm) such cycles coincided with the
service's three latency peaks of 110-220 ms in 30 s; with these options the broker ran no
concurrent cycle and four young collections in 72 s, and its old generation held 50 MB instead
of 220 MB.
"""


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
        The JVM's heap (``-Xms`` and ``-Xmx``): 1 GB, as Kafka's ``kafka-server-start.sh``
        gives it.
    sasl_username, sasl_password
        When both are set, the client port requires SASL/SCRAM-SHA-256 (``SASL_PLAINTEXT``) and
        this user is created when the data dir is formatted (its first start). ``None``: plain.
    """

    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    heap: str = "1g"
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
        # One socket thread and two request handlers, not Kafka's 3 and 8 (sized for servers):
        # fewer hand-offs between threads on a small machine. In the bench's latency arm
        # (43,000 readings/s, 2 cores) the broker took a median 6.9 against 8.0 µs of CPU a
        # reading (5 runs against 13; bench/NOTES-latency-memory.md, round 15).
        "num.network.threads": "1",
        "num.io.threads": "2",
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


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")
