"""A correctly signed snapshot body this version cannot read is refused (the asset starts
afresh), whatever decoding it raises: never an exception out of the restore."""

from __future__ import annotations

import inspect
import pickle
import sys
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from pipeline.compact_states import VERSION, encode_states
from pipeline.errors import SnapshotRefused
from pipeline.metrics import ServiceMetrics
from pipeline.partitions import PartitionStates
from pipeline.processor import Processor
from pipeline.settings import ModelSettings, Settings, StateSettings
from pipeline.state import COMPACT_MAGIC, MAGIC, PACKED_MAGIC, PLAIN_MAGIC, SnapshotCodec

CODEC = SnapshotCodec(b"k")
_PROTO = pickle.dumps(1, protocol=4)[:2]


def _header(value: object) -> bytes:
    return zlib.compress(pickle.dumps(value))


def _global(module: bytes, name: bytes) -> bytes:
    """A pickle of the global ``module.name`` (which this version lacks)."""
    return (
        _PROTO
        + b"\x8c"
        + bytes([len(module)])
        + module
        + b"\x8c"
        + bytes([len(name)])
        + name
        + b"\x93."
    )


_RENAMED = pickle.dumps((sys.byteorder, ("t",), ModelSettings(), ()), protocol=5).replace(
    b"ModelSettings", b"ModelSettingz"
)
_REST = [b"", [0, b""], [0, b""], 0, None, {}]
"""The fields after the header: never reached."""
_HEADERS = {
    "header settings None": _header((sys.byteorder, ("t",), None, ())),
    "header naming a missing class": zlib.compress(_global(b"pipeline", b"Missing")),
    "header naming a missing module": zlib.compress(_global(b"pipeline.zzz", b"X")),
    "header an empty pickle": zlib.compress(b""),
    "header naming a renamed class": zlib.compress(_RENAMED),
    "header of another fleet kind": _header((sys.byteorder, ("t",), ModelSettings(), (), "hst")),
    "header of six fields": _header((sys.byteorder, ("t",), ModelSettings(), (), "zscore", 1)),
}
_UNREADABLE = {case: [VERSION, header, *_REST] for case, header in _HEADERS.items()}


def _body(kind: str = "mahalanobis") -> list[Any]:
    """A real compact body, as msgpack values."""
    processor = Processor(Settings.load(None, model={"kind": kind}))
    for ts in range(1, 40):
        processor.process(b'{"asset": "p", "ts": %d, "values": {"t": %d.5}}' % (ts, ts % 7))
    [(_, _, body)], _ = encode_states([("p", 0, processor.assets["p"])])
    fields: list[Any] = msgspec.msgpack.decode(body)
    return fields


@pytest.mark.parametrize("case", list(_UNREADABLE))
def test_a_signed_compact_body_of_another_version_is_refused(case: str) -> None:
    value = CODEC.seal("a", msgspec.msgpack.encode(_UNREADABLE[case]), compact=True)
    with pytest.raises(SnapshotRefused, match="cannot be read by this version"):
        CODEC.decode("a", value)


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (5, "not a timestamp"),  # last_ts
        (6, 1.5),  # last_seq
        (7, {"t": "hot"}),  # last_values
        ((3, 6), ["not bytes"]),  # the calibration window's blocks
        ((4, 3), "many"),  # the alert policy's count of readings
        ((4, 9), "scores"),  # the alert policy's recent scores
    ],
)
def test_a_signed_compact_body_with_a_field_of_another_type_is_refused(
    index: int | tuple[int, int], value: object
) -> None:
    fields = _body()
    assert CODEC.decode("p", CODEC.seal("p", msgspec.msgpack.encode(fields), compact=True))
    if isinstance(index, tuple):
        fields[index[0]][index[1]] = value
    else:
        fields[index] = value
    sealed = CODEC.seal("p", msgspec.msgpack.encode(fields), compact=True)
    with pytest.raises(SnapshotRefused, match="cannot be read by this version"):
        CODEC.decode("p", sealed)


def test_a_signed_compact_zscore_body_with_a_post_processor_is_refused() -> None:
    fields = _body("zscore")
    assert fields[3][0] == 0 and pickle.loads(fields[3][1]) is None  # no post: None, pickled
    assert CODEC.decode("p", CODEC.seal("p", msgspec.msgpack.encode(fields), compact=True))
    fields[3] = _body()[3]  # the default detector's calibration post-processor
    sealed = CODEC.seal("p", msgspec.msgpack.encode(fields), compact=True)
    with pytest.raises(SnapshotRefused, match="cannot be read by this version"):
        CODEC.decode("p", sealed)


def test_a_signed_pickle_naming_a_class_this_version_lacks_is_refused() -> None:
    value = CODEC.seal("a", _global(b"pipeline.zzz", b"Gone"))
    assert value[:4] == PLAIN_MAGIC
    with pytest.raises(SnapshotRefused, match="ModuleNotFoundError"):
        CODEC.decode("a", value)


def test_a_restore_refuses_an_unreadable_snapshot_and_starts_the_asset_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = msgspec.msgpack.encode(_UNREADABLE["header naming a missing module"])
    good = CODEC.seal("p", msgspec.msgpack.encode(_body()), compact=True)
    latest = {(0, "a"): (5, CODEC.seal("a", body, compact=True)), (0, "p"): (6, good)}
    monkeypatch.setattr("pipeline.state._read_latest", lambda *args: latest)
    settings = Settings.load(None, state={"hmac_key": "k"})
    registry = CollectorRegistry()
    assets: dict[str, Any] = {}
    PartitionStates(settings, assets, ServiceMetrics(registry)).restore([0])
    assert list(assets) == ["p"]  # "a" starts afresh: the service goes on
    assert registry.get_sample_value("linewatch_snapshots_refused_total") == 1


def test_a_signed_zlib_bomb_is_refused_without_inflating_it() -> None:
    small = SnapshotCodec(b"k", max_bytes=1024)  # inflates no more than 16 KiB
    bomb = SnapshotCodec(b"k").seal("a", b"\x80" + bytes(64 << 20))  # 64 MiB of zeros
    assert bomb[:4] == MAGIC and len(bomb) < 1_000_000  # fits the default limit
    with pytest.raises(SnapshotRefused, match="inflates to more than 16384 bytes"):
        small.decode("a", bomb)
    packed = SnapshotCodec(b"k", compress_from=0).seal(
        "a", msgspec.msgpack.encode(_body()), compact=True
    )
    assert packed[:4] == PACKED_MAGIC and small.decode("a", packed).last_ts == 39


def test_a_signed_compact_body_with_a_header_bomb_is_refused() -> None:
    fields = _body()
    fields[1] = zlib.compress(bytes(64 << 20))
    value = CODEC.seal("p", msgspec.msgpack.encode(fields), compact=True)
    with pytest.raises(SnapshotRefused, match="inflates to more than 1048576 bytes"):
        CODEC.decode("p", value)


def test_the_caller_says_which_kind_of_body_it_seals() -> None:
    old_pickle = pickle.dumps({"n": 7}, protocol=1)  # its first byte is not 0x80
    assert old_pickle[:1] != b"\x80"
    value = CODEC.seal("a", old_pickle)
    assert value[:4] == PLAIN_MAGIC and CODEC.decode("a", value) == {"n": 7}
    assert CODEC.seal("a", b"\x80 not a pickle", compact=True)[:4] == COMPACT_MAGIC


def test_the_documented_rollback_switch_writes_snapshots_older_versions_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    switch = "LINEWATCH_STATE__COMPACT_SNAPSHOTS=false"
    assert switch in readme and "cannot be read by versions before it" in readme
    assert switch in inspect.getsource(StateSettings)
    monkeypatch.setenv("LINEWATCH_STATE__COMPACT_SNAPSHOTS", "false")
    settings = Settings.load(None, state={"hmac_key": "k"})
    assert not settings.state.compact_snapshots
    processor = Processor(settings)
    processor.process(b'{"asset": "p", "ts": 1, "values": {"t": 1.5}}')
    states = PartitionStates(settings, processor.assets, ServiceMetrics(CollectorRegistry()))
    states.touch("p", 0)
    [(_, _, value)] = states.snapshots()
    assert value[:4] == PLAIN_MAGIC  # a pickle, as versions before compact snapshots wrote
