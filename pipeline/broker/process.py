"""Ports and processes of the local broker: probe, spawn detached, check, terminate (POSIX)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

__all__ = [
    "alive",
    "answers",
    "command_line",
    "free_port",
    "port_is_free",
    "spawn_detached",
    "terminate",
]
logger = logging.getLogger(__name__)


def free_port(host: str) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind ``host:port``.

    Probes with ``SO_REUSEADDR`` as the JVM binds: a port in TIME_WAIT is free, a bound or
    listening one is not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def answers(host: str, port: int, client_config: dict[str, str] | None = None) -> bool:
    """Whether a Kafka broker on ``host:port`` answers a metadata request.

    ``client_config`` adds librdkafka properties (e.g. SASL credentials) to the request.
    """
    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except OSError:
        return False
    admin = AdminClient(
        {**(client_config or {}), "bootstrap.servers": f"{host}:{port}", "logger": logger}
    )
    try:
        admin.list_topics(timeout=5.0)
    except KafkaException:
        return False
    return True


def spawn_detached(argv: list[str], log_path: Path) -> int:
    """Start ``argv`` in its own session with stdout and stderr appended to ``log_path``.

    ``posix_spawn(setsid=True)`` does what ``Popen(start_new_session=True)`` does, without a
    ``Popen`` object that warns "subprocess is still running" when it is collected: the child is
    meant to outlive the caller.
    """
    output = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), output, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=file_actions, setsid=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists; reaps it first if it is an exited child of ours."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> str | None:
    """The process's command line, or ``None`` where ``/proc`` cannot tell."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL and wait up to 10 s more."""
    _signal(pid, signal.SIGTERM)
    if _wait_exit(pid, timeout_s):
        return
    logger.warning("process ignored SIGTERM, killing it", extra={"pid": pid})
    _signal(pid, signal.SIGKILL)
    _wait_exit(pid, 10.0)


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
