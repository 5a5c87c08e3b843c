"""``linewatch report``: a picture of one series, its score, threshold, alerts and labels."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.detect import format_option, labels_for
from pipeline.cli_options import config_option
from pipeline.errors import DatasetError, PipelineError
from pipeline.evaluation import nab
from pipeline.evaluation.detect import detect
from pipeline.evaluation.loaders import Format, load
from pipeline.settings import Settings

__all__ = ["report"]


@click.command()
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG to write."
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="NAB windows file (combined_windows.json) to draw the label windows of a NAB file.",
)
@click.option("--asset", default=None, help="Asset to draw (wide files). [default: the first]")
@config_option
def report(
    input_file: Path,
    fmt: Format,
    out: Path,
    labels_file: Path | None,
    asset: str | None,
    config_file: Path | None,
) -> None:
    """Draw why it alarmed: a series, its anomaly score, the threshold, alerts and labels.

    Runs the configured detector over INPUT exactly as `linewatch detect` does, then writes a
    PNG: the channels on top; the score and threshold below; red bands where the alert
    policy's alarm was raised, green bands over labelled anomalies.

    Example: linewatch report valve1/0.csv --format skab --out valve1-0.png
    """
    # matplotlib takes a second or more to import: only this command pays for it.
    from pipeline.evaluation.plot import draw_report

    try:
        recording = load(input_file, fmt)
        detection = detect(recording, Settings.load(config_file))
        if labels_file is not None:
            windows = labels_for(input_file, labels_file)
            detection.frame["label"] = nab.window_labels(recording.timestamps, windows)
        chosen = asset if asset is not None else recording.assets[0]
        if chosen not in set(recording.assets):
            raise DatasetError(f"{input_file} has no rows for asset {chosen!r}")
        draw_report(recording, detection, chosen, out)
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {out}")
