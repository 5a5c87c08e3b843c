"""A consumed batch of readings as columns: values, keys and partitions, one each per message.

The service used to make a :class:`~pipeline.processor.Source` for every message it consumed
(about 1 µs with the loop around it); the data path reads only the value, the key and the
partition of a reading it scores. :class:`Consumed` keeps those as lists, taken from the
Kafka messages with one comprehension each, and makes a message's ``Source`` only when
something asks for it: a dead letter, a reading that takes the long way, code that iterates the
batch as ``(value, source)`` pairs, which it still is (a ``Sequence``).

Examples
--------
>>> from pipeline.processor import Source
>>> batch = Consumed.of_pairs([(b"a", Source("r", 0, 7, b"k")), (b"b", Source("r", 1, 3))])
>>> batch.values, batch.keys, batch.partitions
([b'a', b'b'], [b'k', None], [0, 1])
>>> batch[1] == (b"b", Source("r", 1, 3)), batch.next_offsets(2)
(True, {1: 4, 0: 8})
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, overload

if TYPE_CHECKING:
    from pipeline.processor import Source

__all__ = ["Consumed", "KafkaRecord"]


class KafkaRecord(Protocol):
    """What :class:`Consumed` reads of a consumed message (confluent-kafka's ``Message``)."""

    def value(self) -> bytes | None: ...

    def key(self) -> bytes | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...


class Consumed(Sequence[tuple["bytes | None", "Source"]]):
    """Readings of one topic in the order consumed: ``values[i]``, ``keys[i]`` and
    ``partitions[i]`` are message ``i``'s; :meth:`source` makes its :class:`Source`."""

    __slots__ = ("_records", "_sources", "keys", "partitions", "topic", "values")

    def __init__(
        self,
        topic: str,
        values: list[bytes | None],
        keys: list[bytes | None],
        partitions: list[int],
        records: Sequence[KafkaRecord] = (),
        sources: Sequence[Source] = (),
    ) -> None:
        self.topic = topic
        self.values = values
        self.keys = keys
        self.partitions = partitions
        self._records = records
        self._sources = sources

    @classmethod
    def of_records(cls, topic: str, records: Sequence[KafkaRecord]) -> Consumed:
        """Kafka messages of ``topic`` (none an error, each with its partition)."""
        return cls(
            topic,
            [record.value() for record in records],
            [record.key() for record in records],
            [record.partition() or 0 for record in records],
            records=records,
        )

    @classmethod
    def of_pairs(cls, messages: Sequence[tuple[bytes | None, Source]]) -> Consumed:
        """``(value, source)`` pairs, as tests and tools pass them."""
        if isinstance(messages, Consumed):
            return messages
        sources = [source for _, source in messages]
        return cls(
            sources[0].topic if sources else "",
            [value for value, _ in messages],
            [source.key for source in sources],
            [source.partition for source in sources],
            sources=sources,
        )

    def source(self, index: int) -> Source:
        """Where message ``index`` came from."""
        if self._sources:
            return self._sources[index]
        from pipeline.processor import Source  # (it imports the batch path, which imports this)

        offset = self._records[index].offset() or 0
        return Source(self.topic, self.partitions[index], offset, self.keys[index])

    def next_offsets(self, partitions: int = 0) -> dict[int, int]:
        """Each partition's offset after its last message here (scanning from the end, and
        stopping once ``partitions`` were seen, when that many are assigned)."""
        found: dict[int, int] = {}
        for index in range(len(self.values) - 1, -1, -1):
            partition = self.partitions[index]
            if partition not in found:
                found[partition] = self.source(index).offset + 1
                if len(found) == partitions:
                    break
        return found

    def __iter__(self) -> Iterator[tuple[bytes | None, Source]]:
        source = self.source
        return ((value, source(index)) for index, value in enumerate(self.values))

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> tuple[bytes | None, Source]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[bytes | None, Source]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[bytes | None, Source] | Sequence[tuple[bytes | None, Source]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self.values)
            if index < 0:  # (the records would take it from the end once more)
                raise IndexError("Consumed index out of range")
        return self.values[index], self.source(index)
