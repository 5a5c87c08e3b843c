"""Plot one asset's channels from a simulated (or replayed) file, with its label times marked.

Run ``python -m producers.plot run.csv --asset asset-000 --out docs/run.png`` on the files
``linewatch simulate --out run.csv`` writes (CSV or Parquet; the labels file beside it is
found by name). ``scripts/plot-fault`` makes the plot in ``docs/``.
"""

from __future__ import annotations

from pathlib import Path

import click
import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from producers.files import PARQUET_SUFFIXES, labels_path  # noqa: E402
from producers.machines import UNITS  # noqa: E402

__all__ = ["plot", "plot_asset"]

_LABEL_COLOURS = {
    "fault_start": "tab:orange",
    "failure": "tab:red",
    "maintenance": "tab:green",
    "fault_end": "tab:blue",
}
_META = ("asset", "ts", "seq", "line")


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return pd.read_parquet(path)
    return pd.read_csv(path)


def plot_asset(readings: Path, asset: str, out: Path, title: str | None = None) -> int:
    """Write a PNG of ``asset``'s channels over time to ``out``; return the labels marked."""
    frame = _read(readings)
    frame = frame[frame["asset"] == asset]
    if frame.empty:
        raise ValueError(f"{readings} has no readings of {asset!r}")
    labels_file = labels_path(readings)
    labels = _read(labels_file) if labels_file.exists() else pd.DataFrame(columns=["asset"])
    labels = labels[labels["asset"] == asset]
    start = int(frame["ts"].min())
    minutes = (frame["ts"] - start) / 60_000.0
    channels = [name for name in frame.columns if name not in _META]
    figure, axes = plt.subplots(len(channels), 1, sharex=True, figsize=(11, 1.6 * len(channels)))
    for axis, channel in zip(axes, channels, strict=True):
        axis.plot(minutes, frame[channel], linewidth=0.7, color="tab:gray")
        axis.set_ylabel(
            f"{channel}\n[{UNITS.get(channel, '')}]",
            fontsize=7,
            rotation=0,
            ha="right",
            va="center",
        )
        axis.tick_params(labelsize=7)
        for label in labels.itertuples():
            at = (float(str(label.ts)) - start) / 60_000.0
            axis.axvline(
                at,
                color=_LABEL_COLOURS.get(str(label.kind), "k"),
                linestyle="--",
                linewidth=1.0,
                label=f"{label.kind} ({label.fault})",
            )
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="upper right", fontsize=8)
    axes[-1].set_xlabel("minutes since the first reading")
    figure.suptitle(title or f"{asset}: channels and ground-truth labels", fontsize=10)
    figure.tight_layout(rect=(0, 0, 0.85, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return len(labels)


@click.command()
@click.argument("readings", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--asset", required=True, help="The asset to plot.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The PNG to write.",
)
@click.option("--title", default=None, help="The figure's title.")
def plot(readings: Path, asset: str, out: Path, title: str | None) -> None:
    """Plot ASSET's channels from READINGS (CSV or Parquet) with its label times marked."""
    try:
        marked = plot_asset(readings, asset, out, title)
    except (ValueError, KeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"plot: {out} ({marked} labels marked)", err=True)


if __name__ == "__main__":
    plot()
