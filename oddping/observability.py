"""Prometheus /metrics and a /healthz probe on one small HTTP server (a daemon thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


class ProducerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.published = Counter("oddping_records_published_total",
                                 "Records delivered to Kafka (acknowledged)", ["kind"], registry=r)
        self.delivery_failures = Counter("oddping_delivery_failures_total",
                                         "Records Kafka did not accept", registry=r)
        self.backpressure = Counter("oddping_producer_backpressure_total",
                                    "Times the local producer queue was full and we waited",
                                    registry=r)
        self.queue_depth = Gauge("oddping_producer_queue_depth",
                                 "Messages waiting in the producer queue", registry=r)
        self.libpcap_drops = Gauge("oddping_libpcap_dropped_packets",
                                   "Packets the kernel or interface dropped (libpcap stats)",
                                   ["where"], registry=r)
        self.files_done = Counter("oddping_watch_files_total", "Capture files published (watch)",
                                  registry=r)
        self.shed = Counter("oddping_records_shed_total",
                            "Live capture: records dropped because the producer queue was full "
                            "(the capture loop never waits on Kafka)", ["kind"], registry=r)


class HealthServer:
    """Serves /metrics from a registry and /healthz from a callable returning (ok, reason)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 health: Callable[[], tuple[bool, str]]) -> None:
        self._registry = registry
        self._health = health
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                if self.path.startswith("/metrics"):
                    body, ctype, status = generate_latest(server._registry), CONTENT_TYPE_LATEST, 200
                elif self.path.startswith("/healthz"):
                    ok, reason = server._health()
                    body, ctype, status = reason.encode() + b"\n", "text/plain", 200 if ok else 503
                else:
                    body, ctype, status = b"not found\n", "text/plain", 404
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # probes every few seconds: keep quiet
                return

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
