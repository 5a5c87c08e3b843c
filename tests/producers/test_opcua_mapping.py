from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.bridge import bridge
from pipeline.errors import ConfigError
from producers.bridges.opcua_mapping import NodeTarget, load_mapping


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestLoadMapping:
    def test_yaml_and_toml_give_the_same_mapping(self, tmp_path):
        yaml_file = write(
            tmp_path,
            "m.yaml",
            'nodes:\n  "ns=2;s=P1.T": {asset: p1, channel: temp_c, line: l1}\n'
            '  "ns=3;i=1002": {asset: p1, channel: rpm}\n',
        )
        toml_file = write(
            tmp_path,
            "m.toml",
            '[nodes."ns=2;s=P1.T"]\nasset = "p1"\nchannel = "temp_c"\nline = "l1"\n'
            '[nodes."ns=3;i=1002"]\nasset = "p1"\nchannel = "rpm"\n',
        )
        expected = {
            "ns=2;s=P1.T": NodeTarget(asset="p1", channel="temp_c", line="l1"),
            "ns=3;i=1002": NodeTarget(asset="p1", channel="rpm"),
        }
        assert load_mapping(yaml_file) == expected
        assert load_mapping(toml_file) == expected

    @pytest.mark.parametrize(
        ("name", "text", "problem"),
        [
            ("m.yaml", "nodes: [1, 2", "not valid YAML"),
            ("m.toml", "nodes = ", "not valid TOML"),
            ("m.json", "{}", "unknown format"),
            ("m.yaml", "", "exactly one table, 'nodes'"),
            ("m.yaml", "nodes: {}\nextra: 1\n", "exactly one table, 'nodes'"),
            ("m.yaml", "nodes: {}\n", "'nodes' is empty"),
            ("m.yaml", 'nodes: {"junk": {asset: a, channel: c}}', "'junk' is not an OPC UA"),
            ("m.yaml", 'nodes: {"i=1": {asset: a}}', "node 'i=1': channel: Field required"),
            ("m.yaml", 'nodes: {"i=1": {asset: "", channel: c}}', "asset: String should"),
            ("m.yaml", 'nodes: {"i=1": {asset: a, channel: c, unit: C}}', "unit: Extra inputs"),
            (
                "m.yaml",
                'nodes: {"i=1": {asset: a, channel: c}, "i=2": {asset: a, channel: c}}',
                "'i=1' and 'i=2' both map to a/c",
            ),
        ],
    )
    def test_bad_mapping_file_raises_config_error_naming_file_and_problem(
        self, tmp_path, name, text, problem
    ):
        path = write(tmp_path, name, text)
        with pytest.raises(ConfigError) as caught:
            load_mapping(path)
        assert str(caught.value).startswith(f"mapping file {path}: ")
        assert problem in str(caught.value)

    def test_bridge_opcua_with_a_bad_mapping_exits_with_usage_error(self, tmp_path):
        path = write(tmp_path, "m.yaml", 'nodes: {"junk": {asset: a, channel: c}}')
        result = CliRunner().invoke(bridge, ["opcua", "--mapping", str(path)])
        assert result.exit_code == 2
        assert "Invalid value for '--mapping'" in result.output
        assert "'junk' is not an OPC UA node id" in result.output
