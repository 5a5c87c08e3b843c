"""ReadingDecoder.decode_many: a batch decodes as its messages one at a time."""

from __future__ import annotations

from pipeline.decoding import ReadingDecoder
from pipeline.errors import DecodeError
from pipeline.messages import decode_reading


def outcome(decode, value):  # type: ignore[no-untyped-def]
    try:
        return decode(value)
    except DecodeError as exc:
        return (exc.reason, exc.message)


def test_a_mixed_batch_gives_each_message_its_reading_or_error():
    from tests.pipeline.test_fleet import MESSAGES, stream

    values = stream(300) + MESSAGES + [None, b'{"asset":"a","ts":1,"values":{"x":1}}' * 2]
    decoder = ReadingDecoder(max_bytes=4096)
    got = decoder.decode_many(values)
    assert len(got) == len(values)
    for value, result in zip(values, got, strict=True):
        expected = outcome(lambda v: decode_reading(v, 4096), value)
        if isinstance(result, DecodeError):
            assert (result.reason, result.message) == expected
        else:
            assert result == expected
    assert sum(isinstance(r, DecodeError) for r in got) >= len(MESSAGES) // 2


def test_a_float_timestamp_beyond_64_bits_is_a_dead_letter_not_a_poisoned_asset():
    """``ts`` 1e30 passed the batch decoder's int bound as a float; accepted, it made every
    later reading of the asset out of order, and an alert on it unencodable."""
    from pipeline.processor import Processor, Source
    from pipeline.settings import Settings

    processor = Processor(Settings.load(None))
    values = [
        b'{"asset":"a","ts":1000,"values":{"x":1}}',
        b'{"asset":"a","ts":1e30,"values":{"x":1}}',
        b'{"asset":"a","ts":2000,"values":{"x":1}}',
    ]
    outcomes = processor.process_batch(
        [(value, Source("r", 0, offset, b"a")) for offset, value in enumerate(values)]
    )
    letters = [o.dead_letter for o in outcomes]
    assert letters[0] is None and letters[2] is None
    assert letters[1] is not None and letters[1].reason == "bad_timestamp"
    assert outcomes[2].score is not None
