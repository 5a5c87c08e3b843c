"""`linewatch topics create`: linewatch's Kafka topics, idempotently."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli_options import bootstrap_option, config_option
from pipeline.errors import PipelineError
from pipeline.settings import Settings
from pipeline.topics import create_topics, partition_counts, topic_names

__all__ = ["topics"]


@click.group()
def topics() -> None:
    """Manage the Kafka topics linewatch reads and writes."""


@topics.command()
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions of every topic [default: topics.partitions of the settings, 3]. Must match "
    "sensor.readings if it already exists; without this option an existing readings topic's "
    "count is followed.",
)
@bootstrap_option
@config_option
def create(partitions: int | None, bootstrap_servers: str | None, config_file: Path | None) -> None:
    """Create the readings, labels, scores, alerts, dead-letter and state topics.

    Existing topics are left as they are, so running it again is harmless. All topics get the
    same partition count (the state topic and the labels must line up with the readings);
    linewatch.state is compacted.
    """
    try:
        settings = Settings.load(config_file, bootstrap_servers=bootstrap_servers)
        client_config = settings.client_config()
        created = create_topics(client_config, settings.topics, partitions)
        names = topic_names(settings.topics)
        counts = partition_counts(client_config, names)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    for name in names:
        outcome = "created" if name in created else "exists "
        extra = ", compacted" if name == settings.topics.state else ""
        click.echo(f"{outcome} {name} ({counts.get(name, '?')} partitions{extra})")
    click.echo(f"{len(created)} created, {len(names) - len(created)} already existed")
