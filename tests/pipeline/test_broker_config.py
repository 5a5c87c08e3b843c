"""The local broker without a JVM: rendered files, the jar cache, pid files, ports, CLI help."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.broker import jars
from pipeline.broker.local import (
    KAFKA_VERSION,
    BrokerConfig,
    LocalBroker,
    _cluster_id,
    render_log4j2_config,
    render_server_properties,
)
from pipeline.broker.process import port_is_free
from pipeline.errors import ConfigError


def _properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _no(tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: None if name == tool else real_which(name)
    )


class TestBrokerConfig:
    def test_defaults_live_outside_the_repository(self) -> None:
        config = BrokerConfig()
        assert (config.host, config.port, config.heap) == ("127.0.0.1", 9092, "1g")
        assert config.data_dir == Path.home() / ".local/share/linewatch/broker"
        assert config.jars_dir == Path.home() / f".cache/linewatch/kafka-{KAFKA_VERSION}"
        assert config.bootstrap == "127.0.0.1:9092"

    def test_files_are_in_the_data_dir(self, tmp_path: Path) -> None:
        config = BrokerConfig(data_dir=tmp_path)
        assert config.log_path == tmp_path / "broker.log"
        assert config.pid_path == tmp_path / "broker.pid"
        assert config.kraft_dir.parent == tmp_path


class TestRenderServerProperties:
    def test_single_combined_node_with_static_voter(self, tmp_path: Path) -> None:
        config = BrokerConfig(port=19092, data_dir=tmp_path)
        props = _properties(render_server_properties(config, controller_port=19093))
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
        assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
        assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
        assert props["log.dirs"] == str(tmp_path / "kraft")

    def test_transactions_work_on_one_node(self, tmp_path: Path) -> None:
        props = _properties(render_server_properties(BrokerConfig(data_dir=tmp_path), 9093))
        assert props["transaction.state.log.replication.factor"] == "1"
        assert props["transaction.state.log.min.isr"] == "1"
        assert props["offsets.topic.replication.factor"] == "1"

    def test_few_threads_for_a_small_machine(self, tmp_path: Path) -> None:
        props = _properties(render_server_properties(BrokerConfig(data_dir=tmp_path), 9093))
        assert (props["num.network.threads"], props["num.io.threads"]) == ("1", "2")

    def test_topics_are_not_auto_created(self, tmp_path: Path) -> None:
        props = _properties(render_server_properties(BrokerConfig(data_dir=tmp_path), 9093))
        assert props["auto.create.topics.enable"] == "false"

    def test_backslashes_in_paths_are_escaped(self) -> None:
        config = BrokerConfig(data_dir=Path("/tmp/a\\b"))
        assert "log.dirs=/tmp/a\\\\b/kraft" in render_server_properties(config, 9093)


class TestRenderLog4j2Config:
    def test_file_appender_writes_to_the_log_path(self) -> None:
        log_path = Path('/tmp/odd & "quoted" <dir>/broker.log')
        root = ET.fromstring(render_log4j2_config(log_path))
        appender = root.find("./Appenders/File")
        assert appender is not None
        assert appender.get("fileName") == str(log_path)
        assert root.get("shutdownHook") == "disable"  # Kafka logs its own shutdown


class TestPom:
    def test_kafka_version_matches_the_constant(self) -> None:
        namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
        root = ET.fromstring(jars.pom_bytes())
        assert (
            root.findtext("./m:properties/m:kafka.version", namespaces=namespace) == KAFKA_VERSION
        )

    def test_slf4j_binding_is_the_one_for_slf4j_1_7(self) -> None:
        # Kafka 4.1 depends on slf4j-api 1.7.36: log4j-slf4j-impl binds it, log4j-slf4j2-impl
        # (for slf4j 2) would leave it on the NOP logger.
        pom = jars.pom_bytes().decode()
        assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
        assert "log4j-slf4j2-impl" not in pom


class TestJarCache:
    def test_complete_cache_needs_no_maven(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = BrokerConfig(cache_dir=tmp_path)
        config.jars_dir.mkdir()
        (config.jars_dir / ".complete").write_text(hashlib.sha256(jars.pom_bytes()).hexdigest())
        _no("mvn", monkeypatch)
        assert LocalBroker(config).ensure_jars() == config.jars_dir / "libs"

    def test_half_fetched_cache_is_fetched_again(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = BrokerConfig(cache_dir=tmp_path)
        (config.jars_dir / "libs").mkdir(parents=True)
        (config.jars_dir / "libs" / "kafka-clients.jar").write_bytes(b"partial")
        assert not LocalBroker(config).has_jars()
        _no("mvn", monkeypatch)
        with pytest.raises(ConfigError, match="mvn"):
            LocalBroker(config).ensure_jars()

    def test_cache_of_another_pom_is_incomplete(self, tmp_path: Path) -> None:
        config = BrokerConfig(cache_dir=tmp_path)
        config.jars_dir.mkdir()
        (config.jars_dir / ".complete").write_text("digest-of-an-older-pom\n")
        assert not LocalBroker(config).has_jars()


class TestPidFile:
    def test_no_pid_file_means_not_running(self, tmp_path: Path) -> None:
        status = LocalBroker(BrokerConfig(data_dir=tmp_path)).status()
        assert not status.running
        assert status.pid is None and status.bootstrap is None
        assert status.log_path == tmp_path / "broker.log"

    def test_stale_pid_file_is_not_running_and_stop_removes_it(self, tmp_path: Path) -> None:
        exited = subprocess.Popen([sys.executable, "-c", "pass"])
        exited.wait()
        pid = exited.pid
        local = LocalBroker(BrokerConfig(data_dir=tmp_path))
        local.config.pid_path.write_text(f"{pid}\n")
        assert not local.status().running
        assert local.stop() is False
        assert not local.config.pid_path.exists()

    @pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
    def test_pid_reused_by_another_program_is_not_the_broker(self, tmp_path: Path) -> None:
        local = LocalBroker(BrokerConfig(data_dir=tmp_path))
        local.config.pid_path.write_text(f"{os.getpid()}\n")  # pytest is alive but no broker
        assert not local.status().running

    def test_garbage_pid_file_is_not_running(self, tmp_path: Path) -> None:
        local = LocalBroker(BrokerConfig(data_dir=tmp_path))
        local.config.pid_path.write_text("not a pid\n")
        assert not local.status().running


class TestStartPreconditions:
    def test_missing_java_is_a_config_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _no("java", monkeypatch)
        with pytest.raises(ConfigError, match="JDK"):
            LocalBroker(BrokerConfig(data_dir=tmp_path, cache_dir=tmp_path)).start()


class TestHelpers:
    def test_listening_port_is_not_free(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            port = sock.getsockname()[1]
            assert not port_is_free("127.0.0.1", port)
        assert port_is_free("127.0.0.1", port)

    def test_cluster_id_looks_like_kafkas(self) -> None:
        ids = {_cluster_id() for _ in range(50)}
        assert len(ids) == 50
        assert all(len(i) == 22 and not i.startswith("-") for i in ids)


class TestCliHelp:
    @pytest.mark.parametrize("command", [[], ["start"], ["stop"], ["status"]])
    def test_every_broker_command_explains_itself(self, command: list[str]) -> None:
        from pipeline.cli.broker import broker

        result = CliRunner().invoke(broker, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.stdout and "--help" in result.stdout

    def test_status_of_unused_data_dir_says_not_running(self, tmp_path: Path) -> None:
        from pipeline.cli.broker import broker

        result = CliRunner().invoke(broker, ["status", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0
        assert "not running" in result.stdout
