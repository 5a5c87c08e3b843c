"""Click options shared by every command, the pipeline's and the producers' alike.

A module of its own (not in ``pipeline.cli``) so that ``producers`` can use it without
importing the command group, which imports ``producers``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["bootstrap_option", "config_option", "metrics_options"]

F = TypeVar("F", bound=Callable[..., Any])


def bootstrap_option(func: F) -> F:
    """``--bootstrap-servers``, also read from ``LINEWATCH_BOOTSTRAP_SERVERS``."""
    return click.option(
        "--bootstrap-servers",
        envvar="LINEWATCH_BOOTSTRAP_SERVERS",
        default=None,
        show_envvar=True,
        metavar="HOST:PORT[,HOST:PORT]",
        help="Kafka bootstrap servers.  [default: localhost:9092]",
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


def metrics_options(port_default: str) -> Callable[[F], F]:
    """``--metrics-port`` (``port_default`` says what leaving it out means) and ``--metrics-host``.

    Both default to ``None``: the command falls back to its settings or to no endpoint.
    """

    def decorate(func: F) -> F:
        func = click.option(
            "--metrics-host",
            default=None,
            help="Address the metrics endpoint binds to (0.0.0.0 inside a container).  "
            "[default: 127.0.0.1]",
        )(func)
        return click.option(
            "--metrics-port",
            type=click.IntRange(0, 65535),
            default=None,
            metavar="PORT",
            help=f"Serve Prometheus /metrics on this port (0 picks a free one).  "
            f"[default: {port_default}]",
        )(func)

    return decorate
