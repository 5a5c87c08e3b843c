"""Open where a producer command sends its records: files (``--out``) or Kafka."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.errors import ConfigError, KafkaTransportError
from pipeline.settings import Settings
from producers.files import labels_path, open_file_publisher
from producers.metrics import ProducerMetrics
from producers.publish import KafkaPublisher, Publisher

__all__ = ["open_sink"]


def open_sink(
    out: Path | None,
    bootstrap_servers: str | None,
    config: Path | None,
    metrics: ProducerMetrics,
) -> tuple[Publisher, str]:
    """The publisher and a description of where it writes; a clear ClickException if it can't."""
    if out is not None:
        try:
            return open_file_publisher(out), f"{out} and {labels_path(out)}"
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc}") from None
    try:
        settings = Settings.load(config, bootstrap_servers=bootstrap_servers)
        topics = settings.topics
        publisher = KafkaPublisher(
            settings.client_config(), topics.readings, topics.labels, metrics=metrics
        )
    except (ConfigError, KafkaTransportError) as exc:
        raise click.ClickException(str(exc)) from None
    return publisher, f"{settings.bootstrap_servers} ({topics.readings}, {topics.labels})"
