"""The sensor under a flood (issue 14): the live capture loop never waits on Kafka.  A record
that finds the producer's local queue full is shed and counted by kind, on /metrics too, while
file mode keeps waiting (nothing lost).  The queue here is librdkafka's own, kept full by a
broker address nobody listens on, with a small queue limit: no mock."""

from __future__ import annotations

import time

import orjson
from prometheus_client import generate_latest
from recordkit import at, request, syn

from oddping.config import KafkaSettings
from oddping.observability import ProducerMetrics
from producer.publish import RecordPublisher


def test_offer_sheds_and_counts_when_the_queue_is_full():
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:9", extra={
        "queue.buffering.max.messages": 10, "message.timeout.ms": 2000})
    metrics = ProducerMetrics()
    publisher = RecordPublisher(kafka, "sensor-a", metrics)
    records = [request("10.1.0.1", "192.0.2.80", at(i / 1000), payload_class="empty", seq=i)
               for i in range(40)]
    records.append(syn("10.1.0.2", "192.0.2.80", at(1), ttl=64))
    started = time.monotonic()
    queued = [publisher.offer(r, orjson.dumps(r)) for r in records]
    assert time.monotonic() - started < 1.0  # never waited for the broker
    assert sum(queued) == 10 and not queued[-1]
    assert publisher.shed_by_kind == {"icmp": 30, "host_observation": 1, "fragment_anomaly": 0}
    text = generate_latest(metrics.registry).decode()
    assert 'oddping_records_shed_total{kind="icmp"} 30.0' in text
    assert 'oddping_records_shed_total{kind="host_observation"} 1.0' in text
    publisher.producer.purge()


def test_host_observations_stay_rate_limited_under_a_spoofed_syn_flood(tmp_path):
    """Per host, one SYN observation per interval; all hosts together, at most
    MAX_OBSERVATIONS_PER_S per second of capture time (a spoofed SYN flood is all new hosts)."""
    from producer import decode_file
    from producer.decode.decoder import MAX_OBSERVATIONS_PER_S
    from samples import craft as c

    t0 = 1_700_000_000 * 1_000_000_000
    frames = [c.Frame(c.ethernet(c.tcp_syn(f"100.{i // 250 % 250}.{i % 250}.1", "192.0.2.80",
                                            40000 + i % 20000, ttl=60)), t0 + i * 200_000)
              for i in range(3 * 5000)]  # 5,000 SYNs a second for 3 s, each from a new source
    path = tmp_path / "synflood.pcap"
    c.write_pcap(path, frames)
    result = decode_file(str(path))
    assert result.account.host_observations == 3 * MAX_OBSERVATIONS_PER_S
    assert result.account.skipped["tcp_syn_flood_limited"] == 3 * 5000 - 3 * MAX_OBSERVATIONS_PER_S
    assert result.account.balanced()
