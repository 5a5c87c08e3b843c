"""The local broker against a real JVM: start, refuse, stop, status, log, and its CLI."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.broker.config import GC_OPTIONS
from pipeline.broker.local import BrokerConfig, LocalBroker, default_cache_dir
from pipeline.broker.process import free_port
from pipeline.cli.broker import broker
from pipeline.errors import BrokerAlreadyRunning, BrokerError, ConfigError, PortInUse

if TYPE_CHECKING:
    from tests.integration.conftest import KafkaBroker

pytestmark = pytest.mark.integration


def _config(data_dir: Path, port: int | None = None, heap: str = "512m") -> BrokerConfig:
    """A broker config on ``data_dir`` with the jar cache the ``kafka_broker`` fixture uses."""
    cache = os.environ.get("LINEWATCH_CACHE_DIR")
    return BrokerConfig(
        port=port if port is not None else free_port("127.0.0.1"),
        data_dir=data_dir,
        cache_dir=Path(cache) if cache else default_cache_dir(),
        heap=heap,
    )


@pytest.fixture
def own_data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir for a test's own broker, which is stopped afterwards whatever happened."""
    data_dir = tmp_path / "broker"
    yield data_dir
    LocalBroker(BrokerConfig(data_dir=data_dir)).stop()


class TestLocalBroker:
    def test_started_broker_answers_metadata_requests(self, kafka_broker: KafkaBroker) -> None:
        metadata = AdminClient(kafka_broker.config).list_topics(timeout=10)
        assert len(metadata.brokers) == 1

    def test_status_of_running_broker_names_bootstrap_and_pid(
        self, kafka_broker: KafkaBroker
    ) -> None:
        status = LocalBroker(BrokerConfig(data_dir=kafka_broker.data_dir)).status()
        assert status.running
        assert status.bootstrap == kafka_broker.bootstrap
        assert status.pid is not None

    @pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
    def test_jvm_runs_with_fixed_heap_and_kafkas_gc_options(
        self, kafka_broker: KafkaBroker
    ) -> None:
        pid = LocalBroker(BrokerConfig(data_dir=kafka_broker.data_dir)).status().pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        heap = BrokerConfig().heap
        assert {f"-Xms{heap}", f"-Xmx{heap}", *GC_OPTIONS} <= set(argv)
        assert argv.index("-XX:G1HeapRegionSize=8m") < argv.index("kafka.Kafka")

    def test_second_start_on_same_data_dir_raises_already_running(
        self, kafka_broker: KafkaBroker
    ) -> None:
        second = LocalBroker(_config(kafka_broker.data_dir))
        with pytest.raises(BrokerAlreadyRunning, match=kafka_broker.bootstrap):
            second.start()

    def test_port_taken_by_another_process_raises_port_in_use(self, tmp_path: Path) -> None:
        with socket.socket() as occupier:
            occupier.bind(("127.0.0.1", 0))
            occupier.listen()
            port = occupier.getsockname()[1]
            local = LocalBroker(_config(tmp_path, port=port))
            with pytest.raises(PortInUse, match=str(port)):
                local.start()
        assert not local.config.pid_path.exists()

    def test_port_of_broker_on_other_data_dir_raises_port_in_use(
        self, kafka_broker: KafkaBroker, tmp_path: Path
    ) -> None:
        port = int(kafka_broker.bootstrap.rsplit(":", 1)[1])
        with pytest.raises(PortInUse):
            LocalBroker(_config(tmp_path, port=port)).start()

    def test_missing_java_raises_config_error(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        real_which = shutil.which
        monkeypatch.setattr(
            shutil, "which", lambda name, *a, **k: None if name == "java" else real_which(name)
        )
        with pytest.raises(ConfigError, match="java"):
            LocalBroker(_config(tmp_path)).start()

    def test_broker_that_dies_while_starting_raises_with_log_tail(self, tmp_path: Path) -> None:
        local = LocalBroker(_config(tmp_path))
        local.config.kraft_dir.mkdir(parents=True)  # "formatted" for another node: Kafka exits
        (local.config.kraft_dir / "meta.properties").write_text(
            "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=7\n"
        )
        with pytest.raises(BrokerError, match="exited while starting(.|\n)*node"):
            local.start(timeout_s=60)
        assert not local.status().running
        assert not local.config.pid_path.exists()

    def test_log_file_has_the_brokers_log4j_output(self, kafka_broker: KafkaBroker) -> None:
        log = kafka_broker.log_path.read_text()
        assert "Kafka Server started" in log
        assert "SLF4J" not in log  # a working binding: no "defaulting to NOP" warning

    def test_stop_then_status_says_not_running_and_restart_keeps_topics(
        self, own_data_dir: Path
    ) -> None:
        local = LocalBroker(_config(own_data_dir))
        status = local.start()
        assert status.running
        _create_topic(local.config.bootstrap, "kept")
        cluster_id = _cluster_id(local.config)

        assert local.stop() is True
        assert not local.status().running
        assert not local.config.pid_path.exists()
        assert local.stop() is False  # a no-op that says so

        local.start()  # not formatted again: same cluster, same topics
        assert _cluster_id(local.config) == cluster_id
        assert (
            "kept"
            in AdminClient({"bootstrap.servers": local.config.bootstrap})
            .list_topics(timeout=10)
            .topics
        )
        assert local.stop() is True


class TestBrokerCli:
    def test_start_status_stop_cycle(self, own_data_dir: Path) -> None:
        runner = CliRunner()
        port = free_port("127.0.0.1")
        args = ["--data-dir", str(own_data_dir)]

        started = runner.invoke(broker, ["start", "--port", str(port), *args])
        assert started.exit_code == 0, started.output
        assert f"127.0.0.1:{port}" in started.stdout

        again = runner.invoke(broker, ["start", "--port", str(port), *args])
        assert again.exit_code == 0
        assert "already running" in again.stdout

        assert f"running on 127.0.0.1:{port}" in runner.invoke(broker, ["status", *args]).stdout
        assert "broker stopped" in runner.invoke(broker, ["stop", *args]).stdout
        assert "not running" in runner.invoke(broker, ["status", *args]).stdout
        assert "nothing to stop" in runner.invoke(broker, ["stop", *args]).stdout

    def test_start_on_taken_port_fails_with_message_and_no_traceback(self, tmp_path: Path) -> None:
        with socket.socket() as occupier:
            occupier.bind(("127.0.0.1", 0))
            occupier.listen()
            port = occupier.getsockname()[1]
            result = CliRunner().invoke(
                broker, ["start", "--port", str(port), "--data-dir", str(tmp_path)]
            )
        assert result.exit_code == 1
        assert "is taken by another process" in result.stderr
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, PortInUse)  # turned into a clean exit


def _create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 1)], operation_timeout=30).values():
        future.result()


def _cluster_id(config: BrokerConfig) -> str:
    for line in (config.kraft_dir / "meta.properties").read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1]
    raise AssertionError("no cluster.id in meta.properties")
