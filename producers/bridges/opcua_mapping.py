"""The OPC UA mapping file: which node feeds which asset's channel (YAML or TOML).

One table ``nodes`` keyed by OPC UA node id (``ns=2;s=Pump1.Temperature``, ``ns=3;i=1002``),
each with ``asset``, ``channel`` and optionally ``line``::

    # mapping.yaml                           # mapping.toml
    nodes:                                   [nodes."ns=2;s=Pump1.Temperature"]
      "ns=2;s=Pump1.Temperature":            asset = "pump-01"
        asset: pump-01                       channel = "bearing_temp_c"
        channel: bearing_temp_c

The format follows the extension (``.yaml``/``.yml`` or ``.toml``). Every problem raises
:class:`~pipeline.errors.ConfigError` naming the file and the entry.

Examples
--------
>>> mapping = parse_mapping({"nodes": {"ns=2;s=P1.T": {"asset": "p1", "channel": "temp_c"}}})
>>> mapping["ns=2;s=P1.T"]
NodeTarget(asset='p1', channel='temp_c', line=None)
>>> parse_mapping({"nodes": {"junk": {"asset": "p1", "channel": "t"}}})
Traceback (most recent call last):
...
pipeline.errors.ConfigError: node id 'junk' is not an OPC UA node id (like ns=2;s=Name or ns=2;i=17)
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from asyncua import ua
from asyncua.ua.uaerrors import UaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError
from pipeline.messages import MAX_ASSET_ID_LENGTH

__all__ = ["NodeTarget", "load_mapping", "parse_mapping"]


class NodeTarget(BaseModel):
    """Where one node's value goes: a channel of an asset (on a line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset: str = Field(min_length=1, max_length=MAX_ASSET_ID_LENGTH)
    channel: str = Field(min_length=1, max_length=MAX_ASSET_ID_LENGTH)
    line: str | None = None


def load_mapping(path: Path) -> dict[str, NodeTarget]:
    """Read and check a mapping file; raise ConfigError saying what is wrong and where."""
    try:
        raw = _read(path)
        return parse_mapping(raw)
    except ConfigError as exc:
        raise ConfigError(f"mapping file {path}: {exc}") from None


def parse_mapping(raw: Any) -> dict[str, NodeTarget]:
    """Check a parsed mapping (``{"nodes": {node_id: {...}}}``); node ids keep their spelling."""
    if not isinstance(raw, dict) or set(raw) != {"nodes"} or not isinstance(raw["nodes"], dict):
        raise ConfigError("must hold exactly one table, 'nodes', keyed by node id")
    if not raw["nodes"]:
        raise ConfigError("'nodes' is empty: map at least one node")
    mapping: dict[str, NodeTarget] = {}
    for node_id, entry in raw["nodes"].items():
        _check_node_id(str(node_id))
        try:
            mapping[str(node_id)] = NodeTarget.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'entry'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigError(f"node {node_id!r}: {problems}") from None
    _check_unique_targets(mapping)
    return mapping


def _read(path: Path) -> Any:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}") from None
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}") from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}") from None
    raise ConfigError("unknown format: name it .yaml, .yml or .toml")


def _check_node_id(node_id: str) -> None:
    try:
        ua.NodeId.from_string(node_id)
    except (UaError, ValueError):
        raise ConfigError(
            f"node id {node_id!r} is not an OPC UA node id (like ns=2;s=Name or ns=2;i=17)"
        ) from None


def _check_unique_targets(mapping: dict[str, NodeTarget]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for node_id, target in mapping.items():
        other = seen.setdefault((target.asset, target.channel), node_id)
        if other != node_id:
            raise ConfigError(
                f"nodes {other!r} and {node_id!r} both map to {target.asset}/{target.channel}"
            )
