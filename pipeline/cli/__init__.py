"""The ``linewatch`` command line: one console script, one subcommand per job."""

from __future__ import annotations

import click

from pipeline.cli.bridge import bridge
from pipeline.cli.broker import broker
from pipeline.cli.demo import demo
from pipeline.cli.detect import detect_command
from pipeline.cli.evaluate import evaluate
from pipeline.cli.report import report
from pipeline.cli.serve import serve
from pipeline.cli.topics import topics
from producers.cli import simulate
from producers.process_cli import simulate_process
from producers.replay.cli import replay

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="linewatch")
def main() -> None:
    """linewatch: streaming fault prediction for production lines.

    Sensor readings flow from producers (simulate, replay) through Kafka (sensor.readings) to the
    service (serve), which learns each asset's normal behaviour online, scores every reading
    and publishes scores, alerts and dead letters. `linewatch demo` runs it all locally.
    """


for command in (
    broker,
    topics,
    simulate,
    simulate_process,
    replay,
    bridge,
    serve,
    demo,
    detect_command,
    evaluate,
    report,
):
    main.add_command(command)
