"""Which port /metrics and /healthz listen on, so that a producer and several stream workers
share one host with the defaults.

``metrics.port`` (``--metrics-port``, ``ODDPING_METRICS__PORT``):

=========  =====================================================================================
unset      the command's default: ``oddping produce`` 9102; ``oddping process`` the first free
           port of 9103-9118, so the second worker on a host takes 9104, the third 9105, ...
           (the port taken is logged; a Prometheus static config can list the range)
a number   exactly that port; in use -> a one-line error naming this setting
``auto``   any free port the kernel picks, logged
``0``      off
=========  =====================================================================================
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import NamedTuple

from prometheus_client import CollectorRegistry

from .config import ConfigError, MetricsSettings
from .logs import get_logger
from .observability import HealthServer

log = get_logger("oddping.metrics")


class DefaultPorts(NamedTuple):
    first: int
    count: int  # ports tried from ``first`` on while the previous ones are in use


#: Per command: distinct, so a producer and workers on one host never want the same port.
DEFAULT_PORTS = {
    "produce": DefaultPorts(9102, 1),
    "process": DefaultPorts(9103, 16),
}

_ADVICE = ("set metrics.port (--metrics-port, ODDPING_METRICS__PORT) to a free port, "
           "'auto' for any free port, or 0 to turn it off")


class MetricsPortError(ConfigError):
    """The metrics port cannot be had; the message is one line and names the setting."""


def serve_health(metrics: MetricsSettings, command: str, registry: CollectorRegistry,
                 health: Callable[[], tuple[bool, str]]) -> HealthServer | None:
    """Start the /metrics and /healthz server on the port ``metrics.port`` asks for (None: off)."""
    if metrics.port == 0:
        return None
    default = DEFAULT_PORTS[command]
    if metrics.port is None:
        ports = list(range(default.first, default.first + default.count))
    elif metrics.port == "auto":
        ports = [0]
    else:
        ports = [int(metrics.port)]
    for port in ports:
        try:
            server = HealthServer(metrics.host, port, registry, health).start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and port != ports[-1]:
                continue  # another worker of this host has it: try the next default port
            raise MetricsPortError(_message(metrics.host, ports, exc)) from None
        log.info("serving /metrics and /healthz", host=metrics.host, port=server.port)
        return server
    raise AssertionError("unreachable: the loop returns or raises")


def _message(host: str, ports: list[int], exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        where = (f"port {ports[0]}" if len(ports) == 1
                 else f"ports {ports[0]}-{ports[-1]} (the default) are all")
        return f"metrics {where} in use on {host}: {_ADVICE}"
    what = f"port {ports[0]}" if len(ports) == 1 else f"ports {ports[0]}-{ports[-1]}"
    return (f"cannot listen for metrics on {host} {what}: {exc.strerror}; {_ADVICE}, "
            "or metrics.host to an address of this host")
