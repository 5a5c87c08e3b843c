"""Topic creation against the real broker: idempotent, compacted state, matching partitions."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from pipeline.cli.topics import topics as topics_cli
from pipeline.errors import ConfigError
from pipeline.settings import TopicSettings
from pipeline.topics import create_topics, partition_counts, topic_names

if TYPE_CHECKING:
    from tests.integration.conftest import KafkaBroker

pytestmark = pytest.mark.integration


def _unique_topics(partitions: int = 3) -> TopicSettings:
    suffix = uuid.uuid4().hex[:10]
    return TopicSettings(
        readings=f"r.{suffix}",
        labels=f"l.{suffix}",
        scores=f"s.{suffix}",
        alerts=f"a.{suffix}",
        deadletter=f"d.{suffix}",
        state=f"st.{suffix}",
        partitions=partitions,
    )


class TestCreateTopics:
    def test_create_twice_is_idempotent(self, kafka_broker: KafkaBroker) -> None:
        topics = _unique_topics()
        assert create_topics(kafka_broker.config, topics) == topic_names(topics)
        assert create_topics(kafka_broker.config, topics) == []
        counts = partition_counts(kafka_broker.config, topic_names(topics))
        assert counts == {name: 3 for name in topic_names(topics)}

    def test_state_topic_is_compacted_with_the_readings_partition_count(
        self, kafka_broker: KafkaBroker
    ) -> None:
        topics = _unique_topics()
        create_topics(kafka_broker.config, topics, partitions=4)
        counts = partition_counts(kafka_broker.config, [topics.readings, topics.state])
        assert counts[topics.state] == counts[topics.readings] == 4
        assert _config_value(kafka_broker.config, topics.state, "cleanup.policy") == "compact"
        assert _config_value(kafka_broker.config, topics.readings, "cleanup.policy") == "delete"

    def test_missing_topics_follow_an_existing_readings_topic(
        self, kafka_broker: KafkaBroker
    ) -> None:
        topics = _unique_topics(partitions=3)
        admin = AdminClient(kafka_broker.config)
        for future in admin.create_topics([NewTopic(topics.readings, 2)]).values():
            future.result()
        _wait_for_metadata(kafka_broker.config, topics.readings)
        created = create_topics(kafka_broker.config, topics)
        assert topics.readings not in created
        counts = partition_counts(kafka_broker.config, topic_names(topics))
        assert set(counts.values()) == {2}

    def test_explicit_count_other_than_existing_readings_is_refused(
        self, kafka_broker: KafkaBroker
    ) -> None:
        topics = _unique_topics(partitions=3)
        create_topics(kafka_broker.config, topics)
        with pytest.raises(ConfigError, match="already exists with 3 partitions"):
            create_topics(kafka_broker.config, topics, partitions=6)

    def test_topic_settings_fixture_gives_created_unique_topics(
        self, kafka_broker: KafkaBroker, topic_settings: TopicSettings
    ) -> None:
        counts = partition_counts(kafka_broker.config, topic_names(topic_settings))
        assert counts == {name: 3 for name in topic_names(topic_settings)}
        assert topic_settings.readings != TopicSettings().readings


class TestTopicsCli:
    def test_create_reports_created_then_existing(
        self, kafka_broker: KafkaBroker, tmp_path: Path
    ) -> None:
        topics = _unique_topics()
        config_file = tmp_path / "linewatch.toml"
        lines = [f'{field} = "{getattr(topics, field)}"' for field in _NAME_FIELDS]
        config_file.write_text("[topics]\n" + "\n".join(lines) + "\n")
        args = ["create", "--bootstrap-servers", kafka_broker.bootstrap]
        args += ["--config", str(config_file), "--partitions", "2"]

        first = CliRunner().invoke(topics_cli, args)
        assert first.exit_code == 0, first.output
        assert f"created {topics.readings} (2 partitions)" in first.stdout
        assert f"created {topics.state} (2 partitions, compacted)" in first.stdout

        second = CliRunner().invoke(topics_cli, args)
        assert second.exit_code == 0, second.output
        assert "0 created, 6 already existed" in second.stdout

    def test_create_with_conflicting_partitions_exits_non_zero(
        self, kafka_broker: KafkaBroker, topic_settings: TopicSettings, tmp_path: Path
    ) -> None:
        config_file = tmp_path / "linewatch.toml"
        config_file.write_text(f'[topics]\nreadings = "{topic_settings.readings}"\n')
        args = ["create", "--bootstrap-servers", kafka_broker.bootstrap]
        result = CliRunner().invoke(
            topics_cli, [*args, "--config", str(config_file), "--partitions", "5"]
        )
        assert result.exit_code == 1
        assert "already exists with 3 partitions" in result.stderr


_NAME_FIELDS = ("readings", "labels", "scores", "alerts", "deadletter", "state")


def _config_value(client_config: dict[str, str], topic: str, key: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient(client_config)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return str(entries[key].value)


def _wait_for_metadata(client_config: dict[str, str], topic: str) -> None:
    """Wait until the broker's metadata cache knows ``topic`` (it lags the controller a little)."""
    deadline = time.monotonic() + 30
    while topic not in partition_counts(client_config, [topic]):
        assert time.monotonic() < deadline, f"{topic} never appeared in the metadata"
        time.sleep(0.1)
