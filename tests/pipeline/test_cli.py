"""The command line: every subcommand explains itself; bad input gives a clear error."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli import main

COMMANDS = [
    ["broker", "start"],
    ["broker", "stop"],
    ["broker", "status"],
    ["topics", "create"],
    ["simulate"],
    ["simulate-process"],
    ["evaluate", "kpi"],
    ["serve"],
    ["demo"],
]


class TestCommandLine:
    @pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
    def test_every_subcommand_has_a_help_that_explains_it(self, command):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, result.output
        usage, _, rest = result.output.partition("\n\n")
        assert usage.startswith("Usage: main " + " ".join(command))
        assert len(rest.split("Options:")[0].split()) >= 8  # a real description, not a stub

    @pytest.mark.parametrize("command", [["topics", "create"], ["simulate"], ["serve"]])
    def test_kafka_commands_take_bootstrap_servers_from_flag_or_env(self, command):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert "--bootstrap-servers" in result.output
        assert "LINEWATCH_BOOTSTRAP_SERVERS" in result.output

    def test_serve_with_an_invalid_config_fails_with_a_clear_message(self, tmp_path):
        config = tmp_path / "bad.toml"
        config.write_text("[alerts]\nraise_after = 0\n")
        result = CliRunner().invoke(main, ["serve", "--config", str(config)])
        assert result.exit_code == 1
        assert "invalid settings" in result.output and "raise_after" in result.output
        assert "Traceback" not in result.output

    def test_serve_with_a_missing_config_file_names_it(self, tmp_path):
        result = CliRunner().invoke(main, ["serve", "--config", str(tmp_path / "nope.toml")])
        assert result.exit_code == 2
        assert "nope.toml" in result.output

    def test_top_level_help_lists_every_command(self):
        result = CliRunner().invoke(main, ["--help"])
        for name in ("broker", "topics", "simulate", "serve", "demo"):
            assert name in result.output
