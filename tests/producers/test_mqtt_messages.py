from __future__ import annotations

import pytest

from pipeline.errors import DecodeError
from producers.bridges.mqtt_messages import TopicTemplate


class TestTopicTemplate:
    @pytest.mark.parametrize(
        ("template", "problem"),
        [
            ("plant/{line}/{channel}", "no {asset} level"),
            ("plant/{asset}/{asset}", "repeats a placeholder"),
            ("plant/x{asset}", "one whole {name}"),
            ("plant/#", "one whole {name}"),
            ("plant/+/{asset}", "one whole {name}"),
        ],
    )
    def test_bad_template_is_refused_with_the_problem(self, template, problem):
        with pytest.raises(ValueError, match=problem):
            TopicTemplate.parse(template)

    def test_unknown_placeholders_match_one_level_and_are_ignored(self):
        template = TopicTemplate.parse("site/{site}/{asset}/{channel}")
        assert template.subscription == "site/+/+/+"
        reading = template.to_reading("site/north/fan-1/rpm", b"12", now_ms=7)
        assert (reading.asset, reading.values, reading.line) == ("fan-1", {"rpm": 12.0}, None)

    @pytest.mark.parametrize(
        ("topic", "payload", "reason"),
        [
            ("p/l1/a/c", b"", "wrong_type"),
            ("p/l1/a/c", b"1_000", "wrong_type"),
            ("p/l1/a/c", b"inf", "non_finite"),
            ("p/l1/a/c", b"1e300", "out_of_range"),
            ("p/l1/a/c", b"1" * 100, "oversized"),
            ("p/l1/a/c", b"\xff\xfe", "wrong_type"),
            ("p/l1//c", b"1", "wrong_type"),
            ("p/l1/a/c/extra", b"1", "topic_mismatch"),
            ("q/l1/a/c", b"1", "topic_mismatch"),
        ],
    )
    def test_malformed_channel_message_raises_decode_error_with_reason(
        self, topic, payload, reason
    ):
        template = TopicTemplate.parse("p/{line}/{asset}/{channel}")
        with pytest.raises(DecodeError) as caught:
            template.to_reading(topic, payload, now_ms=1)
        assert caught.value.reason == reason

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            (b"[1, 2]", "wrong_type"),
            (b'{"values": {"t": NaN}}', "malformed_json"),
            (b'{"values": {"t": 1e999}}', "malformed_json"),  # orjson refuses overflow
            (b'{"asset": "other", "values": {"t": 1}}', "wrong_type"),
            (b'{"ts": -5, "values": {"t": 1}}', "bad_timestamp"),
            (b'{"ts": 5}', "missing_field"),
        ],
    )
    def test_malformed_json_payload_raises_decode_error_with_reason(self, payload, reason):
        template = TopicTemplate.parse("p/{asset}")
        with pytest.raises(DecodeError) as caught:
            template.to_reading("p/a", payload, now_ms=1)
        assert caught.value.reason == reason

    def test_json_payload_without_ts_is_stamped_on_receipt_and_keeps_seq(self):
        template = TopicTemplate.parse("p/{asset}")
        reading = template.to_reading("p/a", b'{"seq": 4, "values": {"t": 1}}', now_ms=99)
        assert (reading.ts, reading.seq) == (99, 4)
