"""Quick self-measurement of the hot path (not a test): readings per CPU-second.

Two modes, both over ``--assets`` assets with ``--channels`` correlated channels:

- ``processor``: the data path without Kafka. ``Processor.process`` one message at a time, then
  ``Processor.process_batch`` in batches of ``--batch``, on fresh processors, plus the batch
  path with the outputs encoded (``encode(score)``), as the service does.
- ``service``: the whole ``serve`` loop against a real broker (``--bootstrap-servers``, or a
  local one started for the run): preload ``sensor.readings``, then drain it with one
  :class:`~pipeline.app.Service` and count readings per CPU-second of this process (which
  includes librdkafka's threads).

Usage::

    .venv/bin/python -m bench.hotpath_profile processor --readings 200000
    .venv/bin/python -m bench.hotpath_profile service --readings 300000 --kind zscore
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import time
from collections.abc import Iterator

from pipeline.messages import Reading, encode
from pipeline.processor import Processor, Source
from pipeline.settings import Settings


def readings(assets: int, channels: int, count: int, seed: int = 0) -> Iterator[bytes]:
    """``count`` encoded readings, round-robin over ``assets``, channels mixing two factors."""
    rng = random.Random(seed)
    names = [f"ch{j}" for j in range(channels)]
    for i in range(count):
        asset, tick = i % assets, i // assets
        a, b = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        values = {
            name: round(10.0 + j + math.sin(tick / 50.0) + a * (1 + j % 3) + 0.3 * b * j, 4)
            for j, name in enumerate(names)
        }
        yield encode(
            Reading(f"asset-{asset:05d}", 1_700_000_000_000 + tick * 1000, values, seq=tick)
        )


def _rate(label: str, n: int, cpu: float) -> float:
    rate = n / cpu if cpu > 0 else float("inf")
    print(f"{label:<38} {n:>9} readings  {cpu:7.2f} CPU-s  {rate:>10,.0f} readings/s/core")
    return rate


def profile_processor(args: argparse.Namespace) -> None:
    settings = Settings.load(None, model={"kind": args.kind})
    messages = list(readings(args.assets, args.channels, args.readings))
    source = Source("sensor.readings", 0, 0, None)
    if args.per_message:
        processor = Processor(settings)
        n = min(len(messages), args.per_message)
        started = time.process_time()
        for value in messages[:n]:
            processor.process(value, source)
        _rate("process (one message at a time)", n, time.process_time() - started)
    for encode_scores in (False, True):
        processor = Processor(settings)
        started = time.process_time()
        for i in range(0, len(messages), args.batch):
            outcomes = processor.process_batch([(v, source) for v in messages[i : i + args.batch]])
            if encode_scores:
                for outcome in outcomes:
                    if outcome.score is not None:
                        encode(outcome.score)
        label = f"process_batch({args.batch}){' + encode' if encode_scores else ''}"
        _rate(label, len(messages), time.process_time() - started)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS {rss_mb:.0f} MB with {len(processor.assets)} assets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["processor", "service"])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--kind", default="mahalanobis")
    parser.add_argument("--per-message", type=int, default=0, help="also time process() on N")
    parser.add_argument("--bootstrap-servers", default=None)
    args = parser.parse_args()
    if args.mode == "processor":
        profile_processor(args)
    else:
        from bench.hotpath_service import profile_service

        profile_service(args)


if __name__ == "__main__":
    main()
