"""Live alerts through the real local broker: the input never goes quiet, and a tunnel's alert
reaches the alerts topic while the sensor is still publishing, as an open version 1, within
seconds of the packet that made it (issue 12)."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from confluent_kafka import Consumer, Producer
from kafkakit import BOOTSTRAP, require_broker
from recordkit import footprints_burst, request, syn
from test_stream_kafka import Pipeline

pytestmark = pytest.mark.kafka

TUNNEL_HOST = "10.66.0.9"
FOOTPRINTS_HOST = "10.66.0.15"
BACKGROUND_HOSTS = [f"10.50.{n // 250}.{n % 250 + 1}" for n in range(200)]


@pytest.fixture(scope="module", autouse=True)
def broker() -> str:
    return require_broker()


class PacedSensor(threading.Thread):
    """Publishes records in real time, capture time = wall time: every background host pings
    once a second throughout; from `odd_at_s` on, a ptunnel session (magic: one packet is
    enough) and the Footprints pattern start.  Notes when it published the first tunnel packet
    and when it stopped."""

    def __init__(self, topic: str, seconds: float, odd_at_s: float) -> None:
        super().__init__(daemon=True)
        self.topic, self.seconds, self.odd_at_s = topic, seconds, odd_at_s
        self.first_tunnel_sent: float | None = None
        self.finished: float | None = None
        self.published = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def records_at(self, tick: int, now_ns: int) -> list[dict]:
        out = [request(host, "8.8.8.8", now_ns + n * 1000, payload_class="linux_iputils",
                       ttl=64, icmp_id=n + 1, seq=tick) for n, host in enumerate(BACKGROUND_HOSTS)]
        if tick == 0:
            out.append(syn(FOOTPRINTS_HOST, "52.1.1.1", now_ns, ttl=126))
        return out

    def run(self) -> None:
        try:
            producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True,
                                 "partitioner": "murmur2_random", "linger.ms": 5})
            start = time.monotonic()
            tick = 0
            while not self.stop.is_set() and time.monotonic() - start < self.seconds:
                elapsed = time.monotonic() - start
                now_ns = time.time_ns()
                records = self.records_at(tick, now_ns)
                odd = elapsed >= self.odd_at_s
                if odd:
                    records.append(request(TUNNEL_HOST, "198.51.100.7", now_ns + 5_000,
                                           payload_class="ptunnel", ttl=64, icmp_id=7, seq=tick))
                for record in records:
                    producer.produce(self.topic, orjson.dumps(record),
                                     record["initiator_ip"].encode(),
                                     timestamp=record["ts_ns"] // 1_000_000)
                producer.flush(10)
                if odd and self.first_tunnel_sent is None:
                    self.first_tunnel_sent = time.monotonic()
                self.published += len(records)
                tick += 1
                time.sleep(max(0.0, start + tick * 0.5 - time.monotonic()))  # 2 ticks a second
            self.finished = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc
            self.finished = time.monotonic()


def test_a_tunnel_alert_arrives_while_the_sensor_is_still_publishing() -> None:
    pipeline = Pipeline(partitions=2)
    sensor = PacedSensor(pipeline.records, seconds=60, odd_at_s=30)
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"live-{pipeline.app_id}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    arrived: dict | None = None
    arrived_at = 0.0
    publishing_then = False
    try:
        pipeline.start_worker()
        sensor.start()
        consumer.subscribe([pipeline.alerts])
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and arrived is None:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            doc = orjson.loads(msg.value())
            if doc["rule_id"] == "icmp_tunnel" and doc["src_ip"] == TUNNEL_HOST:
                arrived, arrived_at = doc, time.monotonic()
                publishing_then = sensor.is_alive() and sensor.published > 0
    finally:
        sensor.stop.set()
        sensor.join(30)
        consumer.close()
        pipeline.stop()
    assert sensor.error is None, sensor.error
    assert arrived is not None, "no tunnel alert"
    assert sensor.first_tunnel_sent is not None
    # the sensor was still publishing (it would have gone on 30 s past the tunnel's start) ...
    assert publishing_then
    # ... and the alert is version 1, open, made within seconds of the tunnel's first packet
    assert (arrived["version"], arrived["status"]) == (1, "open")
    latency = arrived_at - sensor.first_tunnel_sent
    assert latency < 15, f"{latency:.1f} s from the first tunnel packet to its alert"
