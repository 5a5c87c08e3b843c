"""``python -m bench.speed``: the speed bench's command line (``scripts/bench`` runs it)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench.speed.cli_types import positive_int
from bench.speed.run import ARMS, Options, run
from bench.speed.targets import verdict_line
from pipeline.settings import ModelSettings, ServeSettings

DEFAULT_RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speed",
        description="linewatch against a naive loop and Quix Streams on the same input "
        "(readings/s per core), plus latency, memory and state size; appends to bench/RESULTS.md.",
    )
    parser.add_argument("--readings", type=int, default=1_000_000, help="preloaded readings")
    parser.add_argument("--assets", type=int, default=1_000, help="assets they are spread over")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the input topic")
    parser.add_argument(
        "--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}"
    )
    parser.add_argument(
        "--bootstrap-servers", default=None, help="use this broker, not a local one"
    )
    parser.add_argument("--kind", default=ModelSettings().kind, help="detector of arms a, b, c")
    parser.add_argument(
        "--passthrough-kind", default=_passthrough_default(), help="detector of arm d"
    )
    parser.add_argument(
        "--processing",
        default=ServeSettings().processing,
        choices=("exactly_once", "at_least_once"),
    )
    parser.add_argument(
        "--no-snapshots", action="store_true", help="run linewatch without state.hmac_key"
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=30.0, help="live producer run time"
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=None,
        help="readings/s (default: half the linewatch peak)",
    )
    parser.add_argument(
        "--latency-producer",
        choices=("loadgen", "simulate"),
        default="loadgen",
        help="live producer of the latency arm: simulate's messages encoded before the run "
        "and sent in real time (loadgen, light), or `linewatch simulate` itself",
    )
    parser.add_argument(
        "--latency-order",
        choices=("partition", "asset"),
        default="partition",
        help="the order the load generator's assets read in within a tick: the assets of one "
        "partition one after another (one produce request instead of one per partition), or "
        "in asset order, as `linewatch simulate --order asset` sends",
    )
    parser.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, help="Markdown to append to"
    )
    parser.add_argument("--no-results", action="store_true", help="print only, write no file")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the arms' processes")
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=None,
        help="every arm's commit interval in s (default: each one's own, 5 s); for quick runs",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the configs and the children's stdout/stderr here (default: a temporary dir)",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=2,
        help="rounds of the drain arms, run in turn; each arm's figure is its best round "
        "(the shared machine's speed drifts; default 2)",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the drain arms on one CPU and the broker and the bench on the others, as if "
        "the broker had a machine of its own (default: when the bench starts the broker; "
        "for the latency arm every process has every CPU again)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per drain at most")
    return parser


def _passthrough_default() -> str:
    """``zscore`` once linewatch has it, else the lightest existing kind, ``robust``."""
    from pipeline.detectors import KINDS

    return "zscore" if "zscore" in KINDS else "robust"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        print(
            f"unknown arms: {', '.join(unknown)} (choose from {', '.join(ARMS)})", file=sys.stderr
        )
        return 2
    options = Options(
        readings=args.readings,
        assets=args.assets,
        partitions=args.partitions,
        arms=arms,
        bootstrap=args.bootstrap_servers,
        kind=args.kind,
        passthrough_kind=args.passthrough_kind,
        processing=args.processing,
        snapshots=not args.no_snapshots,
        latency_seconds=args.latency_seconds,
        latency_rate=args.latency_rate,
        latency_producer=args.latency_producer,
        latency_order=args.latency_order,
        results=None if args.no_results else args.results,
        nice=args.nice,
        timeout_s=args.timeout,
        commit_interval_s=args.commit_interval,
        workdir=args.workdir,
        repeat=args.repeat,
        pin=args.pin,
    )
    summary = run(options)
    for key, value in summary.items():
        print(f"{key} = {'n/a' if value is None else round(value, 2)}")
    print(verdict_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
