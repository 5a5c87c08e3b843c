"""Settings: defaults < file < environment < flags; bad values fail at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import Settings


class TestSettings:
    def test_defaults(self):
        settings = Settings.load(None)
        assert settings.bootstrap_servers == "localhost:9092"
        assert settings.topics.state == "linewatch.state"

    def test_file_then_environment_then_flags(self, tmp_path, monkeypatch):
        config = tmp_path / "linewatch.toml"
        config.write_text(
            'bootstrap_servers = "file:1"\n[alerts]\nthreshold = 0.7\nraise_after = 4\n'
        )
        monkeypatch.setenv("LINEWATCH_ALERTS__RAISE_AFTER", "6")
        settings = Settings.load(config)
        assert (settings.bootstrap_servers, settings.alerts.threshold) == ("file:1", 0.7)
        assert settings.alerts.raise_after == 6
        monkeypatch.setenv("LINEWATCH_BOOTSTRAP_SERVERS", "env:2")
        assert Settings.load(config).bootstrap_servers == "env:2"
        assert Settings.load(config, bootstrap_servers="flag:3").bootstrap_servers == "flag:3"

    def test_kafka_properties_pass_through(self, monkeypatch):
        monkeypatch.setenv("LINEWATCH_KAFKA", '{"security.protocol": "SASL_SSL"}')
        config = Settings.load(None).client_config()
        assert config == {"bootstrap.servers": "localhost:9092", "security.protocol": "SASL_SSL"}

    def test_invalid_value_is_a_config_error(self, tmp_path):
        config = tmp_path / "bad.toml"
        config.write_text("[alerts]\nthreshold = 3.0\n")
        with pytest.raises(ConfigError, match="threshold"):
            Settings.load(config)

    def test_unknown_key_is_a_config_error(self, tmp_path):
        config = tmp_path / "typo.toml"
        config.write_text("[alerts]\nthreshhold = 0.5\n")
        with pytest.raises(ConfigError, match="threshhold"):
            Settings.load(config)

    def test_missing_or_broken_file(self, tmp_path):
        with pytest.raises(ConfigError, match="not found"):
            Settings.load(tmp_path / "nope.toml")
        broken = tmp_path / "broken.toml"
        broken.write_text("[alerts\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            Settings.load(broken)


class TestTypeScale:
    @pytest.mark.parametrize("value", ["inf", "nan", 10.5, -0.1])
    def test_an_unbounded_or_not_a_number_scale_is_a_config_error(self, value):
        with pytest.raises(ConfigError, match="type_scale"):
            Settings.load(None, supervised={"hierarchical": True, "type_scale": value})

    def test_a_scale_within_bounds_is_taken(self):
        for value in (0.0, 0.5, 10.0):
            settings = Settings.load(None, supervised={"hierarchical": True, "type_scale": value})
            assert settings.supervised.type_scale == value

    def test_a_scale_without_hierarchical_would_do_nothing(self, tmp_path):
        config = tmp_path / "scale.toml"
        config.write_text("[supervised]\ntype_scale = 0.3\n")
        with pytest.raises(ConfigError, match="needs supervised.hierarchical"):
            Settings.load(config)
        assert Settings.load(None).supervised.type_scale == 0.5  # the default alone is fine

    @pytest.mark.parametrize(
        ("overrides", "hierarchical", "fleet_model"),
        [
            ({"HIERARCHICAL": "false"}, False, False),
            ({"HIERARCHICAL": "false", "FLEET_MODEL": "true"}, False, True),
        ],
    )
    def test_the_wear_configs_documented_comparisons_load(
        self, monkeypatch, overrides, hierarchical, fleet_model
    ):
        # docs/supervised.md compares the modes by these overrides of supervised-wear.toml.
        for name, value in overrides.items():
            monkeypatch.setenv(f"LINEWATCH_SUPERVISED__{name}", value)
        settings = Settings.load(Path(__file__).parents[2] / "configs" / "supervised-wear.toml")
        assert settings.supervised.hierarchical is hierarchical
        assert settings.supervised.fleet_model is fleet_model
