"""Signed model snapshots: a round trip keeps the model, any alteration is refused."""

from __future__ import annotations

import pickle
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError, SnapshotRefused
from pipeline.processor import Processor, Source
from pipeline.settings import Settings
from pipeline.state import MAGIC, PLAIN_MAGIC, SnapshotCodec

CODEC = SnapshotCodec(b"k" * 32)


def _readings(start: int, count: int) -> list[bytes]:
    return [
        f'{{"asset": "p", "ts": {ts}, "values": {{"t": {ts % 7 * 0.5}, "v": {ts % 3}}}}}'.encode()
        for ts in range(start, start + count)
    ]


def test_a_restored_model_scores_exactly_like_the_original():
    config = Settings.load(None, model={"n_trees": 3, "window_size": 20})
    original = Processor(config)
    for value in _readings(0, 300):
        original.process(value, Source(key=b"p"))
    restored = Processor(config)
    restored.assets["p"] = CODEC.decode("p", CODEC.encode("p", original.assets["p"]))
    for value in _readings(300, 200):
        assert restored.process(value) == original.process(value)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_byte_is_refused(data):
    value = bytearray(CODEC.encode("press-1", {"n": list(range(50))}))
    index = data.draw(st.integers(0, len(value) - 1))
    value[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SnapshotRefused):
        CODEC.decode("press-1", bytes(value))


@pytest.mark.parametrize(
    "value",
    [None, b"", MAGIC, b"LWS0" + bytes(40), MAGIC + bytes(32) + zlib.compress(pickle.dumps(1))],
)
def test_what_is_not_a_signed_snapshot_is_refused(value):
    with pytest.raises(SnapshotRefused):
        CODEC.decode("a", value)


class _Exploit:
    """Unpickling it calls :func:`_explode`."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_explode, ())


EXPLODED: list[bool] = []


def _explode() -> None:
    EXPLODED.append(True)


@pytest.mark.parametrize(
    "value",
    [
        PLAIN_MAGIC + bytes(32) + pickle.dumps(_Exploit()),
        MAGIC + bytes(32) + zlib.compress(pickle.dumps(_Exploit())),
    ],
    ids=["plain", "compressed"],
)
def test_a_code_running_pickle_without_the_signature_is_never_unpickled(value):
    EXPLODED.clear()
    with pytest.raises(SnapshotRefused, match="bad signature"):
        CODEC.decode("a", value)
    assert not EXPLODED


def test_the_exploit_pickle_does_run_code_when_unpickled():
    EXPLODED.clear()
    pickle.loads(pickle.dumps(_Exploit()))
    assert EXPLODED == [True]
    EXPLODED.clear()


def test_a_snapshot_moved_to_another_asset_is_refused():
    with pytest.raises(SnapshotRefused, match="asset 'b'"):
        CODEC.decode("b", CODEC.encode("a", 1))


def test_a_snapshot_above_the_limit_says_what_to_do():
    with pytest.raises(ConfigError, match="n_trees"):
        SnapshotCodec(b"k", max_bytes=1024).encode("a", random.Random(0).randbytes(5000))


def test_an_empty_key_is_a_programming_error():
    with pytest.raises(ValueError):
        SnapshotCodec(b"")


class TestPlainSnapshots:
    """Small pickles are signed as they are (``PLAIN_MAGIC``), large ones compressed."""

    def test_small_states_are_not_compressed_and_round_trip(self):
        value = CODEC.encode("a", {"n": list(range(50))})
        assert value.startswith(PLAIN_MAGIC)
        assert CODEC.decode("a", value) == {"n": list(range(50))}

    def test_large_states_are_compressed_and_round_trip(self):
        state = {"w": [0.5] * 20_000}
        value = CODEC.encode("a", state)
        assert value.startswith(MAGIC) and len(value) < len(pickle.dumps(state)) // 10
        assert CODEC.decode("a", value) == state

    def test_a_state_too_large_for_the_limit_plain_is_compressed(self):
        codec = SnapshotCodec(b"k" * 32, max_bytes=1024)  # compress_from is 16 KiB
        state = {"w": [0.5] * 1000}  # about 9 KB pickled
        value = codec.encode("a", state)
        assert value.startswith(MAGIC) and len(value) <= 1024
        assert codec.decode("a", value) == state

    def test_snapshots_of_either_form_are_read_whatever_the_writer_chose(self):
        compressing = SnapshotCodec(b"k" * 32, compress_from=0)
        assert CODEC.decode("a", compressing.encode("a", 7)) == 7
        assert compressing.decode("a", CODEC.encode("a", 7)) == 7

    @pytest.mark.parametrize("magic", [MAGIC, PLAIN_MAGIC])
    def test_a_body_relabelled_as_the_other_form_is_refused(self, magic):
        value = SnapshotCodec(b"k" * 32, compress_from=0 if magic == MAGIC else 10**9).encode(
            "a", 1
        )
        other = PLAIN_MAGIC if magic == MAGIC else MAGIC
        with pytest.raises(SnapshotRefused):
            CODEC.decode("a", other + value[len(magic) :])
