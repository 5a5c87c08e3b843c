"""``linewatch bridge mqtt|opcua``: help, Kafka options, clear errors for bad settings."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli import main

BRIDGES = [["bridge", "mqtt"], ["bridge", "opcua"]]


class TestBridgeCommandLine:
    @pytest.mark.parametrize("command", BRIDGES, ids=" ".join)
    def test_help_explains_the_bridge_and_takes_bootstrap_servers_and_config(self, command):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, result.output
        usage, _, rest = result.output.partition("\n\n")
        assert usage.startswith("Usage: main " + " ".join(command))
        assert len(rest.split("Options:")[0].split()) >= 8
        for option in ("--bootstrap-servers", "LINEWATCH_BOOTSTRAP_SERVERS", "--config"):
            assert option in result.output
        assert "--metrics-port" in result.output

    def test_top_level_help_lists_bridge(self):
        assert "bridge" in CliRunner().invoke(main, ["--help"]).output

    def test_invalid_mqtt_settings_in_config_fail_with_a_clear_message(self, tmp_path):
        config = tmp_path / "bad.toml"
        config.write_text("[mqtt]\nport = 0\n")
        result = CliRunner().invoke(main, ["bridge", "mqtt", "--config", str(config)])
        assert result.exit_code == 1
        assert "invalid settings" in result.output and "mqtt.port" in result.output

    def test_invalid_topic_template_in_config_fails_with_a_clear_message(self, tmp_path):
        config = tmp_path / "bad.toml"
        config.write_text('[mqtt]\ntopic = "plant/#"\n')
        result = CliRunner().invoke(main, ["bridge", "mqtt", "--config", str(config)])
        assert result.exit_code == 1
        assert "level '#' must be plain text" in result.output
        assert "Traceback" not in result.output
