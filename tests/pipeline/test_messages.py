"""Messages: encode/decode round trips and every class of bad input."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.decoding import ReadingDecoder
from pipeline.errors import DecodeError
from pipeline.messages import (
    MAX_ABS_VALUE,
    Alert,
    Label,
    Reading,
    Score,
    decode_label,
    decode_reading,
    encode,
)


def reading_bytes(**fields: object) -> bytes:
    base: dict[str, object] = {"asset": "press-07", "ts": 1000, "values": {"vib": 1.5}}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


class TestEncodeDecode:
    def test_reading_round_trips(self):
        reading = Reading("press-07", 1700000000123, {"vib": 1.25, "temp": 40.0}, seq=7, line="L1")
        assert decode_reading(encode(reading)) == reading

    def test_optional_fields_are_omitted_when_none(self):
        payload = orjson.loads(encode(Reading("a", 1, {"x": 1.0})))
        assert payload == {"asset": "a", "ts": 1, "values": {"x": 1.0}}

    def test_rfc3339_timestamp_becomes_epoch_ms(self):
        reading = decode_reading(reading_bytes(ts="2024-01-01T00:00:01.500+00:00"))
        assert reading.ts == 1704067201500

    def test_integers_become_floats(self):
        assert decode_reading(reading_bytes(values={"count": 3})).values == {"count": 3.0}

    def test_unknown_channels_and_fields_are_kept_or_ignored(self):
        reading = decode_reading(reading_bytes(values={"new_sensor": 2.0}, extra="ignored"))
        assert reading.values == {"new_sensor": 2.0}

    def test_label_round_trips(self):
        label = Label("press-07", 5, "fault_start", fault="bearing_wear")
        assert decode_label(encode(label)) == label

    def test_score_and_alert_encode_deterministically(self):
        score = Score("a", 1, 0.5, 0.8, False, "hst", {"x": 1.0})
        alert = Alert("a:1", "a", "raised", "high", 2, 1, 0.99, ["x"], "hst", "why")
        assert encode(score) == encode(Score("a", 1, 0.5, 0.8, False, "hst", {"x": 1.0}))
        assert orjson.loads(encode(alert))["state"] == "raised"

    @given(
        asset=st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=20),
        ts=st.integers(min_value=0, max_value=2**53),
        values=st.dictionaries(
            st.text(alphabet="abcxyz_", min_size=1, max_size=8),
            st.floats(min_value=-MAX_ABS_VALUE, max_value=MAX_ABS_VALUE),
            min_size=1,
        ),
    )
    def test_any_valid_reading_round_trips(self, asset, ts, values):
        reading = Reading(asset, ts, values)
        assert decode_reading(encode(reading)) == reading


class TestDecodeRejects:
    @pytest.mark.parametrize(
        ("data", "reason", "says"),
        [
            (b"{not json", "malformed_json", "not valid UTF-8 JSON"),
            (b"\xff\xfe", "malformed_json", "not valid UTF-8 JSON"),
            (b"", "malformed_json", "not valid"),
            (b"[1, 2]", "wrong_type", "JSON object, got list"),
            (b'{"asset": "a", "ts": 1, "values": {"x": NaN}}', "malformed_json", "JSON"),
            (b'{"asset": "a", "ts": 1, "values": {"x": Infinity}}', "malformed_json", "JSON"),
            (b'{"asset": "a", "ts": 1, "values": {"x": 1e400}}', "malformed_json", "JSON"),
        ],
    )
    def test_malformed_bytes(self, data, reason, says):
        with pytest.raises(DecodeError) as caught:
            decode_reading(data)
        assert caught.value.reason == reason
        assert says in str(caught.value)

    @pytest.mark.parametrize("missing", ["asset", "ts", "values"])
    def test_missing_fields(self, missing):
        with pytest.raises(DecodeError, match=f"missing required field '{missing}'") as caught:
            decode_reading(reading_bytes(**{missing: ...}))
        assert caught.value.reason == "missing_field"

    @pytest.mark.parametrize(
        ("fields", "says"),
        [
            ({"asset": 7}, "asset must be a string, got int"),
            ({"asset": ""}, "asset must be 1-128 printable"),
            ({"asset": "x" * 129}, "asset must be 1-128 printable"),
            ({"asset": "bad\nid"}, "printable"),
            ({"values": [1.0]}, "values must be an object, got list"),
            ({"values": {"vib": "high"}}, "values.vib must be a finite number, got str"),
            ({"values": {"vib": None}}, "values.vib must be a finite number, got null"),
            ({"values": {"vib": True}}, "values.vib must be a finite number, got bool"),
            ({"values": {"vib": {"nested": 1}}}, "got dict"),
            ({"seq": -1}, "seq must be a non-negative integer"),
            ({"seq": 1.5}, "seq must be a non-negative integer"),
            ({"line": 3}, "line must be a string"),
        ],
    )
    def test_wrong_types(self, fields, says):
        with pytest.raises(DecodeError, match=says) as caught:
            decode_reading(reading_bytes(**fields))
        assert caught.value.reason == "wrong_type"

    def test_nan_from_a_lenient_encoder_is_refused(self):
        # Python's json writes NaN literals; they are not JSON and never reach a model.
        data = json.dumps({"asset": "a", "ts": 1, "values": {"x": float("nan")}}).encode()
        with pytest.raises(DecodeError):
            decode_reading(data)

    @pytest.mark.parametrize("value", [1.0000001e15, -1e16, 1e153, 10**16])
    def test_value_beyond_the_largest_magnitude_is_refused(self, value):
        # 1e153 squared and summed overflows a covariance: the reading must not reach a model.
        with pytest.raises(DecodeError, match="values.x must be within ±1e\\+15") as caught:
            decode_reading(reading_bytes(values={"x": value}))
        assert caught.value.reason == "out_of_range"

    def test_the_largest_magnitude_itself_is_taken(self):
        data = reading_bytes(values={"x": MAX_ABS_VALUE, "y": -MAX_ABS_VALUE})
        assert decode_reading(data).values == {"x": 1e15, "y": -1e15}
        assert ReadingDecoder().decode(data).values == {"x": 1e15, "y": -1e15}

    def test_the_fast_decoder_refuses_a_huge_value_as_the_slow_path_does(self):
        with pytest.raises(DecodeError) as caught:
            ReadingDecoder().decode(reading_bytes(values={"x": 1e153}))
        assert caught.value.reason == "out_of_range"

    def test_huge_integer_value_is_refused(self):
        with pytest.raises(DecodeError):
            decode_reading(reading_bytes(values={"x": 10**400}))

    @pytest.mark.parametrize(
        ("ts", "says"),
        [
            ("yesterday", "is not RFC 3339"),
            ("2024-01-01T00:00:00", "has no time zone"),
            (-5, "must not be negative"),
            (1e30, "must be below 2\\*\\*63"),
            (2**63, "must be below 2\\*\\*63"),
            (None, "epoch ms or RFC 3339, got null"),
            ([1], "got list"),
            (True, "got bool"),
        ],
    )
    def test_bad_timestamps(self, ts, says):
        with pytest.raises(DecodeError, match=says) as caught:
            decode_reading(reading_bytes(ts=ts))
        assert caught.value.reason == "bad_timestamp"

    def test_oversized_message(self):
        data = reading_bytes(values={f"c{i}": 1.0 for i in range(2000)})
        with pytest.raises(DecodeError, match=r"message is \d+ bytes, limit is 1024") as caught:
            decode_reading(data, max_bytes=1024)
        assert caught.value.reason == "oversized"

    def test_null_payload(self):
        with pytest.raises(DecodeError, match="no value") as caught:
            decode_reading(None)
        assert caught.value.reason == "missing_field"

    def test_unknown_label_kind(self):
        data = b'{"asset": "a", "ts": 1, "kind": "explosion"}'
        with pytest.raises(DecodeError, match="kind must be one of fault_start"):
            decode_label(data)

    @given(st.binary(max_size=300))
    def test_arbitrary_bytes_never_raise_anything_but_decode_error(self, data):
        try:
            decode_reading(data)
        except DecodeError as exc:
            assert exc.reason and exc.message
