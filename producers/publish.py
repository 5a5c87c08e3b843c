"""Where produced records go: Kafka (``KafkaPublisher``) or a pair of CSV files (``CsvPublisher``).

Both follow the same small contract, :class:`Publisher`: ``publish`` each record, ``flush`` to
make sure everything arrived (raising :class:`~pipeline.errors.DeliveryError` if not), ``close``.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "run.csv"
>>> with CsvPublisher(path) as out:
...     out.publish(Reading("asset-000", 1000, {"speed_rpm": 1480.0}, seq=0))
...     out.publish(Label("asset-000", 1000, "fault_start", "bearing_wear"))
>>> print(path.read_text(), end="")
asset,ts,seq,line,speed_rpm
asset-000,1000,0,,1480.0
>>> print(labels_path(path).read_text(), end="")
asset,ts,kind,fault
asset-000,1000,fault_start,bearing_wear
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

from confluent_kafka import KafkaError, Message, Producer

from pipeline.auth import AuthWatch
from pipeline.errors import DeliveryError, KafkaTransportError
from pipeline.messages import Label, Reading, encode

__all__ = ["CsvPublisher", "KafkaPublisher", "Publisher", "labels_path"]

_PRODUCER_DEFAULTS = {"linger.ms": "20", "compression.type": "lz4", "client.id": "linewatch"}
_PRODUCER_REQUIRED = {"enable.idempotence": "true", "acks": "all"}


class Publisher(Protocol):
    """Somewhere readings and labels can be sent."""

    def publish(self, record: Reading | Label) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> None: ...

    def close(self) -> None: ...


class _Closing:
    """Context-manager support: flush on a clean exit, always close."""

    def flush(self, timeout_s: float = 30.0) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()


class KafkaPublisher(_Closing):
    """Idempotent, batching producer: readings and labels keyed by asset id.

    ``client_config`` holds librdkafka properties (``bootstrap.servers``, ``security.protocol``,
    ...); ``enable.idempotence=true`` and ``acks=all`` are always set. ``delivered`` and
    ``failed`` count delivery reports.
    """

    def __init__(
        self, client_config: dict[str, str], readings_topic: str, labels_topic: str
    ) -> None:
        self._auth = AuthWatch()  # refused credentials raise ConfigError instead of retrying
        config: dict[str, object] = {**_PRODUCER_DEFAULTS, **client_config, **_PRODUCER_REQUIRED}
        config["error_cb"] = self._auth
        try:
            self._producer = Producer(config)
        except Exception as exc:  # KafkaException for bad properties
            raise KafkaTransportError(f"cannot create Kafka producer: {exc}") from exc
        self.readings_topic, self.labels_topic = readings_topic, labels_topic
        self.delivered = 0
        self.failed = 0
        self.first_error: KafkaError | None = None

    def publish(self, record: Reading | Label) -> None:
        """Queue one record; when the local queue is full, serve deliveries and retry."""
        topic = self.readings_topic if isinstance(record, Reading) else self.labels_topic
        value, key = encode(record), record.asset.encode()
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.1)
                self._auth.check()
        self._producer.poll(0)
        self._auth.check()

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued record; raise :class:`DeliveryError` if any was not delivered."""
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(min(timeout_s, 1.0))
        while remaining > 0 and time.monotonic() < deadline:
            self._auth.check()
            remaining = self._producer.flush(min(deadline - time.monotonic(), 1.0))
        self._auth.check()
        if remaining > 0:
            raise DeliveryError(f"{remaining} messages were not delivered within {timeout_s} s")
        if self.failed:
            error = self.first_error
            code = error.code() if error is not None else None
            raise DeliveryError(f"{self.failed} messages failed; first error: {error}", code)

    def close(self, timeout_s: float = 5.0) -> None:
        """Give queued records up to ``timeout_s`` to leave; never raises (use :meth:`flush`)."""
        self._producer.flush(timeout_s)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = error


def labels_path(path: Path) -> Path:
    """The labels file that goes with readings file ``path``: ``run.csv`` -> ``run.labels.csv``.

    >>> labels_path(Path("out/run.csv")).as_posix()
    'out/run.labels.csv'
    """
    return path.with_suffix(".labels.csv")


class CsvPublisher(_Closing):
    """Wide CSV: one row per reading (``asset, ts, seq, line`` and one column per channel),
    and labels (``asset, ts, kind, fault``) in :func:`labels_path`.

    The channel columns are those of the first reading; later readings must have the same ones.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._readings: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._labels: IO[str] = labels_path(path).open("w", newline="", encoding="utf-8")
        self._reading_rows: Any = csv.writer(self._readings)
        self._label_rows: Any = csv.writer(self._labels)
        self._label_rows.writerow(["asset", "ts", "kind", "fault"])
        self._channels: tuple[str, ...] | None = None

    def publish(self, record: Reading | Label) -> None:
        """Append one row to the readings or the labels file."""
        if isinstance(record, Label):
            self._label_rows.writerow([record.asset, record.ts, record.kind, record.fault or ""])
            return
        if self._channels is None:
            self._channels = tuple(record.values)
            self._reading_rows.writerow(["asset", "ts", "seq", "line", *self._channels])
        elif record.values.keys() != set(self._channels):
            raise ValueError(
                f"reading of {record.asset} has channels {sorted(record.values)}, "
                f"the file has {sorted(self._channels)}"
            )
        row = [record.values[name] for name in self._channels]
        seq = "" if record.seq is None else record.seq
        self._reading_rows.writerow([record.asset, record.ts, seq, record.line or "", *row])

    def flush(self, timeout_s: float = 30.0) -> None:
        """Push buffered rows to the operating system."""
        self._readings.flush()
        self._labels.flush()

    def close(self) -> None:
        """Close both files."""
        self._readings.close()
        self._labels.close()
