"""Static checks of docker-compose.yml, the Dockerfile and deploy/ (no Docker needed).

The compose stack is for users; Docker does not run in CI. These tests hold the files to the
contracts they depend on: the ``linewatch`` CLI (subcommands and flags, through click's
``--help``), :class:`pipeline.settings.Settings` (every ``LINEWATCH_*`` variable), the metric
names the service exports, and each other (ports, mounts, scrape targets, datasource uids).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from pipeline.errors import ConfigError
from pipeline.settings import ServeSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "linewatch.json"

#: Metric families the service exports, with the label names each carries.
SERVICE_METRICS: dict[str, frozenset[str]] = {
    "linewatch_readings_total": frozenset({"outcome"}),
    "linewatch_scores_total": frozenset(),
    "linewatch_alerts_total": frozenset({"state", "severity"}),
    "linewatch_alerts_active": frozenset(),
    "linewatch_deadletters_total": frozenset({"reason"}),
    "linewatch_process_seconds": frozenset({"le"}),
    "linewatch_event_lag_seconds": frozenset({"le"}),
    "linewatch_consumer_lag_messages": frozenset({"topic", "partition"}),
    "linewatch_models": frozenset(),
    "linewatch_snapshot_bytes": frozenset({"le"}),
    "linewatch_snapshot_seconds": frozenset({"le"}),
    "linewatch_drift_events_total": frozenset(),
    "linewatch_snapshots_refused_total": frozenset(),
    "linewatch_restores_total": frozenset(),
    "linewatch_restore_seconds": frozenset({"le"}),
    "linewatch_commits_total": frozenset({"outcome"}),
    "linewatch_asset_score": frozenset({"asset"}),
    "linewatch_asset_threshold": frozenset({"asset"}),
    "linewatch_asset_alarm": frozenset({"asset"}),
    "linewatch_asset_channel_value": frozenset({"asset", "channel"}),
    "linewatch_supervised_roc_auc": frozenset(),
    "linewatch_supervised_precision": frozenset(),
    "linewatch_supervised_recall": frozenset(),
    "linewatch_supervised_f1": frozenset(),
    "linewatch_supervised_rul_mae_hours": frozenset(),
    "linewatch_supervised_rul_rmse_hours": frozenset(),
    "linewatch_supervised_labels_total": frozenset({"kind"}),
    "linewatch_supervised_targets_total": frozenset({"target"}),
    "linewatch_supervised_buffered": frozenset(),
    "linewatch_supervised_dropped": frozenset(),
    "linewatch_supervised_lead_time_seconds": frozenset({"le"}),
    "linewatch_supervised_failures_total": frozenset({"warned"}),
    "linewatch_fault_alerts_total": frozenset({"state"}),
}
#: Metric families producers (`linewatch simulate --metrics-port`) export (issue 3).
PRODUCER_METRICS: dict[str, frozenset[str]] = {
    "linewatch_producer_readings_sent_total": frozenset({"producer"}),
    "linewatch_producer_labels_sent_total": frozenset({"producer"}),
    "linewatch_producer_delivery_errors_total": frozenset({"producer"}),
    "linewatch_producer_deadletters_total": frozenset({"producer", "reason"}),
}
METRICS = {**SERVICE_METRICS, **PRODUCER_METRICS}
HISTOGRAMS = frozenset(
    {
        "linewatch_process_seconds",
        "linewatch_event_lag_seconds",
        "linewatch_snapshot_bytes",
        "linewatch_snapshot_seconds",
        "linewatch_restore_seconds",
        "linewatch_supervised_lead_time_seconds",
    }
)
LABEL_VALUES = {
    "outcome": {"valid", "invalid"},
    "state": {"raised", "cleared"},
    "severity": {"low", "medium", "high"},
}
#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})

_METRIC_RE = re.compile(r"\blinewatch_[a-z0-9_]+")
_SELECTOR_RE = re.compile(r"\b(linewatch_[a-z0-9_]+)\s*\{([^}]*)\}")
_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*')


# --------------------------------------------------------------------------- helpers


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(COMPOSE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _is_linewatch(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("linewatch")


def _linewatch_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if _is_linewatch(svc)}


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    """Split a compose command into its subcommand path and its options."""
    for index, arg in enumerate(args):
        if arg.startswith("-"):
            return args[:index], args[index:]
    return args, []


def _flags(args: list[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]


def _option(args: list[str], flag: str) -> str | None:
    """The value of the last ``flag`` in ``args`` (``--flag value`` or ``--flag=value``)."""
    value = None
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def _host_ports(service: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """``(host_ip, published, target)`` for every published port of a service."""
    result: list[tuple[str | None, str, str]] = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            result.append((port.get("host_ip"), str(port["published"]), str(port["target"])))
            continue
        parts = str(port).split(":")
        if len(parts) == 3:
            result.append((parts[0], parts[1], parts[2].split("/")[0]))
        elif len(parts) == 2:
            result.append((None, parts[0], parts[1].split("/")[0]))
        else:
            result.append((None, "", parts[0]))
    return result


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository path for every bind mount of a relative host path."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume["target"])
        else:
            source, target = str(volume).split(":")[:2]
        if source.startswith("."):
            mounts[target] = (ROOT / source).resolve()
    return mounts


def _in_container(service: dict[str, Any], path: str) -> Path | None:
    """The repository file that a container sees at ``path`` (file or directory mounts)."""
    for target, source in sorted(_bind_mounts(service).items(), key=lambda m: -len(m[0])):
        if path == target:
            return source
        if path.startswith(target.rstrip("/") + "/"):
            return (source / path[len(target.rstrip("/")) + 1 :]).resolve()
    return None


def _settings_path(var: str) -> list[str]:
    """``LINEWATCH_SERVE__METRICS_PORT`` -> ``["serve", "metrics_port"]`` if it is a field."""
    assert var.startswith("LINEWATCH_"), var
    path = var.removeprefix("LINEWATCH_").lower().split("__")
    model: Any = Settings
    for depth, part in enumerate(path):
        fields = model.model_fields
        assert part in fields, f"{var}: {part!r} is not a settings field ({sorted(fields)})"
        if depth < len(path) - 1:
            model = fields[part].annotation
            assert isinstance(model, type) and hasattr(model, "model_fields"), (
                f"{var}: {part!r} is not a settings section"
            )
    return path


def _settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name in list(os.environ):
        if name.upper().startswith("LINEWATCH_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.load(None)


def _metrics_port(service: dict[str, Any]) -> int:
    """The port ``linewatch serve`` listens on: flag, else environment, else the default."""
    flag = _option(_command(service), "--metrics-port")
    if flag is not None:
        return int(flag)
    env = _environment(service).get("LINEWATCH_SERVE__METRICS_PORT")
    return int(env) if env is not None else ServeSettings().metrics_port


def _metrics_host(service: dict[str, Any]) -> str | None:
    flag = _option(_command(service), "--metrics-host")
    return flag if flag is not None else _environment(service).get("LINEWATCH_SERVE__METRICS_HOST")


def _serve_service(services: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    serving = [
        (name, svc)
        for name, svc in _linewatch_services(services).items()
        if _split(_command(svc))[0] == ["serve"]
    ]
    assert len(serving) == 1, f"expected one `linewatch serve` service, found {serving}"
    return serving[0]


def _cli() -> click.Group:
    """``pipeline.cli.main``, imported by the tests that need it (an ImportError fails them)."""
    from pipeline.cli import main

    assert isinstance(main, click.Group), "pipeline.cli.main must be a click group"
    return main


def _leaf(cli: click.Group, path: list[str]) -> tuple[click.Command, click.Context]:
    """Resolve a subcommand path to its command and the context of its group."""
    ctx = click.Context(cli, info_name="linewatch")
    group = cli
    for name in path[:-1]:
        sub = group.get_command(ctx, name)
        assert isinstance(sub, click.Group), f"linewatch {name!r} is not a command group"
        ctx = click.Context(sub, info_name=name, parent=ctx)
        group = sub
    leaf = group.get_command(ctx, path[-1])
    assert leaf is not None, f"linewatch has no subcommand {' '.join(path)!r}"
    return leaf, ctx


# --------------------------------------------------------------------------- compose layout


class TestComposeServices:
    def test_stack_has_the_expected_services(self, services):
        expected = {"kafka", "topics", "service", "simulator", "prometheus", "grafana"}
        assert expected <= set(services)

    def test_host_ports_are_bound_to_localhost_only(self, services):
        for name, service in services.items():
            for host_ip, published, target in _host_ports(service):
                assert host_ip == "127.0.0.1", f"{name}: port {published}:{target} on all hosts"

    def test_topics_wait_for_a_healthy_broker(self, services):
        assert "healthcheck" in services["kafka"]
        test = services["kafka"]["healthcheck"]["test"]
        assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in " ".join(test)
        assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"

    def test_service_and_simulator_start_after_topics_are_created(self, services):
        for name in ("service", "simulator"):
            depends = services[name]["depends_on"]
            assert depends["topics"]["condition"] == "service_completed_successfully", name

    def test_topics_job_is_not_restarted(self, services):
        assert str(services["topics"].get("restart", "no")) in {"no", "False"}

    def test_linewatch_services_build_the_repository_image(self, services):
        linewatch = _linewatch_services(services)
        assert {"topics", "service", "simulator"} <= set(linewatch)
        for name, service in linewatch.items():
            build = service.get("build")
            context = build if isinstance(build, str) else (build or {}).get("context", ".")
            assert (ROOT / context / "Dockerfile").is_file(), name


class TestKafka:
    def test_single_node_kraft_broker(self, services):
        kafka = services["kafka"]
        env = _environment(kafka)
        assert kafka["image"] == "apache/kafka:4.1.1"
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        node = env["KAFKA_NODE_ID"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@")
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        assert f"{controller}://" in env["KAFKA_LISTENERS"]
        for key in (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        ):
            assert env[key] == "1", key

    def test_every_advertised_listener_has_a_protocol_and_a_bound_listener(self, services):
        env = _environment(services["kafka"])
        protocols = dict(
            item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
        )
        listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
        assert listeners <= set(protocols)
        for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
            assert item.split("://")[0] in listeners, item

    def test_host_listener_is_published(self, services):
        env = _environment(services["kafka"])
        published = {(p, t) for _, p, t in _host_ports(services["kafka"])}
        host = [a for a in env["KAFKA_ADVERTISED_LISTENERS"].split(",") if "//localhost:" in a]
        assert host, "no listener advertised for clients on the host"
        port = host[0].rsplit(":", 1)[1]
        assert (port, port) in published

    def test_linewatch_services_use_the_internal_listener(self, services):
        env = _environment(services["kafka"])
        advertised = {a.split("://")[1] for a in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
        internal = {a for a in advertised if a.startswith("kafka:")}
        assert internal
        for name, service in _linewatch_services(services).items():
            candidates = [
                _option(_command(service), "--bootstrap-servers"),
                _environment(service).get("LINEWATCH_BOOTSTRAP_SERVERS"),
            ]
            values = [v for v in candidates if v is not None]
            assert values, f"{name}: no bootstrap servers given"
            for value in values:
                assert set(value.split(",")) <= internal, f"{name}: {value}"


# --------------------------------------------------------------------------- the CLI contract


class TestLinewatchCommands:
    def test_console_script_is_the_click_main(self):
        with (ROOT / "pyproject.toml").open("rb") as handle:
            scripts = tomllib.load(handle)["project"]["scripts"]
        assert scripts["linewatch"] == "pipeline.cli:main"

    def test_commands_use_real_subcommands_and_flags(self, services):
        cli = _cli()
        runner = CliRunner()
        for name, service in _linewatch_services(services).items():
            path, options = _split(_command(service))
            assert path, f"{name}: no subcommand"
            result = runner.invoke(cli, [*path, "--help"])
            assert result.exit_code == 0, f"{name}: `linewatch {' '.join(path)}`: {result.output}"
            for flag in _flags(options):
                pattern = rf"(?<![\w-]){re.escape(flag)}(?![\w-])"
                assert re.search(pattern, result.output), (
                    f"{name}: `linewatch {' '.join(path)}` has no {flag}"
                )

    def test_commands_parse_with_their_values(self, services):
        cli = _cli()
        # make_context parses and converts every option without running the command.
        for name, service in _linewatch_services(services).items():
            path, options = _split(_command(service))
            command, parent = _leaf(cli, path)
            try:
                command.make_context(path[-1], list(options), parent=parent)
            except click.ClickException as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{name}: `linewatch {' '.join(_command(service))}`: {exc}")

    def test_partition_count_is_the_same_everywhere(self, services):
        counts = {}
        for name, service in _linewatch_services(services).items():
            flag = _option(_command(service), "--partitions")
            env = _environment(service).get("LINEWATCH_TOPICS__PARTITIONS")
            counts.update({f"{name} flag": flag, f"{name} env": env})
        assert len({int(v) for v in counts.values() if v is not None}) == 1, counts

    def test_simulated_fault_names_a_simulated_asset(self, services):
        args = _command(services["simulator"])
        assets = int(_option(args, "--assets") or 0)
        fault = _option(args, "--fault")
        assert fault is not None
        match = re.fullmatch(r"asset-(\d{3}):([a-z_]+)@(\d+(?:\.\d+)?)", fault)
        assert match, fault
        assert int(match.group(1)) < assets
        assert match.group(2) == "bearing_wear"


class TestSettingsEnvironment:
    def test_every_linewatch_variable_is_a_settings_field(self, services):
        for service in _linewatch_services(services).values():
            for var in _environment(service):
                if var.startswith("LINEWATCH_"):
                    _settings_path(var)

    def test_values_arrive_in_settings(self, services, monkeypatch):
        for name, service in _linewatch_services(services).items():
            env = {k: v for k, v in _environment(service).items() if k.startswith("LINEWATCH_")}
            settings = _settings_from_env(monkeypatch, env)
            for var, raw in env.items():
                value: Any = settings
                for part in _settings_path(var):
                    value = getattr(value, part)
                if isinstance(value, dict):
                    assert value == json.loads(raw), f"{name}: {var}"
                else:
                    assert str(value).lower() == raw.lower(), f"{name}: {var}={raw} -> {value!r}"

    def test_a_misspelled_nested_variable_is_refused(self, monkeypatch):
        # The guard the test above relies on: nested sections forbid unknown fields.
        with pytest.raises(ConfigError):
            _settings_from_env(monkeypatch, {"LINEWATCH_SERVE__METRICS_PROT": "9108"})
        with pytest.raises(AssertionError):
            _settings_path("LINEWATCH_BOOTSTRAP_SERVER")

    def test_service_binds_metrics_on_every_interface(self, services):
        _, service = _serve_service(services)
        assert _metrics_host(service) == "0.0.0.0"

    def test_published_and_probed_port_is_the_metrics_port(self, services):
        _, service = _serve_service(services)
        port = str(_metrics_port(service))
        assert (port, port) in {(p, t) for _, p, t in _host_ports(service)}
        if "healthcheck" in service:
            assert f":{port}/metrics" in " ".join(service["healthcheck"]["test"])


# --------------------------------------------------------------------------- Prometheus


class TestPrometheus:
    @pytest.fixture
    def config(self) -> dict[str, Any]:
        data = _load_yaml(PROMETHEUS)
        assert isinstance(data, dict)
        return data

    def test_config_is_mounted_where_prometheus_reads_it(self, services):
        prometheus = services["prometheus"]
        config_flag = _option(_command(prometheus), "--config.file")
        config_path = config_flag or "/etc/prometheus/prometheus.yml"
        assert _in_container(prometheus, config_path) == PROMETHEUS.resolve()

    def test_rule_files_are_mounted_next_to_the_config(self, services, config):
        prometheus = services["prometheus"]
        config_flag = _option(_command(prometheus), "--config.file")
        config_dir = Path(config_flag or "/etc/prometheus/prometheus.yml").parent
        assert config["rule_files"]
        for rule_file in config["rule_files"]:
            local = _in_container(prometheus, str(config_dir / rule_file))
            assert local == (PROMETHEUS.parent / rule_file).resolve()
            assert (
                local is not None
                and local.is_file()
                and local.name.endswith(("rules.yml", "alerts.yml"))
            )

    def test_rules_name_only_exported_metrics(self, config):
        for rule_file in config["rule_files"]:
            for group in _load_yaml(PROMETHEUS.parent / rule_file)["groups"]:
                for rule in group["rules"]:
                    for name in _METRIC_RE.findall(rule["expr"]):
                        assert _family(name) in METRICS, f"{rule['alert']}: unknown {name}"

    def test_simulator_has_a_scrape_job(self, services, config):
        # `linewatch simulate --metrics-port 9109` (issue 3) serves the producer metrics.
        assert "simulator" in services
        targets = [
            t
            for job in config["scrape_configs"]
            for sc in job.get("static_configs", [])
            for t in sc["targets"]
        ]
        assert any(target.startswith("simulator:") for target in targets), targets

    def test_scrape_job_targets_the_service_metrics_port(self, services, config):
        name, service = _serve_service(services)
        target = f"{name}:{_metrics_port(service)}"
        jobs = {
            job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
            for job in config["scrape_configs"]
        }
        assert any(target in targets for targets in jobs.values()), jobs
        job = next(j for j in config["scrape_configs"] if target in str(j))
        assert job.get("metrics_path", "/metrics") == "/metrics"


# --------------------------------------------------------------------------- Grafana


class TestGrafana:
    @pytest.fixture
    def mounts(self, services) -> dict[str, Path]:
        return _bind_mounts(services["grafana"])

    def test_mounted_provisioning_files_exist(self, mounts):
        assert mounts, "grafana mounts nothing from the repository"
        for target, source in mounts.items():
            assert source.exists(), f"{source} (mounted at {target}) is missing"
        provisioning = mounts["/etc/grafana/provisioning"]
        assert list((provisioning / "datasources").glob("*.yml"))
        assert list((provisioning / "dashboards").glob("*.yml"))

    def test_anonymous_access_is_read_only(self, services):
        env = _environment(services["grafana"])
        assert env["GF_AUTH_ANONYMOUS_ENABLED"].lower() == "true"
        assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"

    def test_dashboard_provider_points_at_the_mounted_dashboards(self, mounts):
        providers = _load_yaml(
            mounts["/etc/grafana/provisioning"] / "dashboards" / "linewatch.yml"
        )["providers"]
        paths = {provider["options"]["path"] for provider in providers}
        assert paths == {"/var/lib/grafana/dashboards"}
        assert mounts["/var/lib/grafana/dashboards"] == DASHBOARD.parent.resolve()

    def test_datasource_is_the_compose_prometheus(self, mounts, services):
        datasources = _load_yaml(
            mounts["/etc/grafana/provisioning"] / "datasources" / "prometheus.yml"
        )["datasources"]
        (source,) = [ds for ds in datasources if ds["type"] == "prometheus"]
        _, port, _ = next(iter(_host_ports(services["prometheus"])))
        assert source["url"] == f"http://prometheus:{port}"


class TestDashboard:
    @pytest.fixture
    def dashboard(self) -> dict[str, Any]:
        return json.loads(DASHBOARD.read_text(encoding="utf-8"))

    @pytest.fixture
    def datasource_uids(self) -> set[str]:
        path = ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
        return {ds["uid"] for ds in _load_yaml(path)["datasources"]}

    def test_panels_have_a_datasource_and_promql_targets(self, dashboard, datasource_uids):
        panels = dashboard["panels"]
        assert panels
        assert len({panel["id"] for panel in panels}) == len(panels)
        for panel in _query_panels(dashboard):
            assert panel["datasource"]["uid"] in datasource_uids, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["expr"].strip(), panel["title"]
                assert target.get("datasource", panel["datasource"])["uid"] in datasource_uids

    def test_promql_names_only_exported_metrics(self, dashboard):
        for panel in _query_panels(dashboard):
            for target in panel["targets"]:
                names = _METRIC_RE.findall(target["expr"])
                assert names, f"{panel['title']}: no linewatch metric in {target['expr']}"
                for name in names:
                    assert _family(name) in METRICS, f"{panel['title']}: unknown metric {name}"

    def test_promql_label_matchers_use_exported_labels(self, dashboard):
        for panel in _query_panels(dashboard):
            for target in panel["targets"]:
                for name, body in _SELECTOR_RE.findall(target["expr"]):
                    labels = METRICS[_family(name)] | TARGET_LABELS
                    for label, op, value in _MATCHER_RE.findall(body):
                        assert label in labels, f"{panel['title']}: {name} has no label {label}"
                        if op == "=" and label in LABEL_VALUES:
                            assert value in LABEL_VALUES[label], f"{panel['title']}: {value}"

    def test_dashboard_covers_the_first_panels(self, dashboard):
        exprs = " ".join(t["expr"] for p in _query_panels(dashboard) for t in p["targets"])
        for metric in (
            "linewatch_readings_total",
            "linewatch_scores_total",
            "linewatch_alerts_total",
            "linewatch_deadletters_total",
            "linewatch_asset_score",
        ):
            assert metric in exprs, metric

    def test_static_metric_list_matches_the_service_registry(self):
        from prometheus_client import CollectorRegistry

        from pipeline.metrics import ServiceMetrics

        registry = CollectorRegistry()
        ServiceMetrics(registry)
        exported = {
            f"{family.name}_total" if family.type == "counter" else family.name
            for family in registry.collect()
        }
        assert set(SERVICE_METRICS) == exported, sorted(set(SERVICE_METRICS) ^ exported)


def _query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel except rows (which only group panels and have no queries)."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _family(name: str) -> str:
    """``linewatch_process_seconds_bucket`` -> ``linewatch_process_seconds``."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in HISTOGRAMS:
            return base
    return name


# --------------------------------------------------------------------------- the image


class TestDockerfile:
    @pytest.fixture
    def instructions(self) -> list[tuple[str, str]]:
        lines = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
        stripped = (line.strip() for line in lines)
        return [
            (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in stripped
            if line and not line.startswith("#")
        ]

    def test_base_image_install_and_entrypoint(self, instructions):
        assert instructions[0] == ("FROM", "python:3.11-slim")
        assert any(op == "RUN" and "pip install ." in arg for op, arg in instructions)
        entrypoints = [json.loads(arg) for op, arg in instructions if op == "ENTRYPOINT"]
        assert entrypoints[-1] == ["linewatch"]

    def test_the_kernel_cache_is_in_a_place_the_unprivileged_user_writes(self, instructions):
        """The image runs as an unprivileged user without a home: numba caches the fleets'
        compiled kernels where NUMBA_CACHE_DIR says, under /tmp."""
        env = " ".join(arg for op, arg in instructions if op == "ENV")
        assert "NUMBA_CACHE_DIR=/tmp/" in env
        users = [arg for op, arg in instructions if op == "USER"]
        assert users and users[-1] != "root"

    def test_copied_sources_exist_and_are_not_ignored(self, instructions):
        ignored = {
            line.strip()
            for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        }
        for op, arg in instructions:
            if op != "COPY" or arg.startswith("--from"):
                continue
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"
                assert source not in ignored, f"COPY {source}: excluded by .dockerignore"
