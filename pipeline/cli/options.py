"""Options shared by every command that talks to Kafka."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["bootstrap_option", "config_option"]

F = TypeVar("F", bound=Callable[..., Any])


def bootstrap_option(func: F) -> F:
    """``--bootstrap-servers``, also read from ``LINEWATCH_BOOTSTRAP_SERVERS``."""
    return click.option(
        "--bootstrap-servers",
        envvar="LINEWATCH_BOOTSTRAP_SERVERS",
        default=None,
        show_envvar=True,
        help="Kafka bootstrap servers, host:port[,host:port]. [default: localhost:9092]",
    )(func)


def config_option(func: F) -> F:
    """``--config FILE``: the TOML settings file (see pipeline.settings)."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="TOML settings file; LINEWATCH_* environment variables and flags override it.",
    )(func)
