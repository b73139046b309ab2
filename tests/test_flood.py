"""Under a flood (issue 14): admission protects established hosts, a spoofed-source flood is one
icmp_flood alert with its sources' findings folded in, a single fast source is named, and the
alert budget bounds what gets out, reporting the overflow."""

from __future__ import annotations

import random

import pytest
from recordkit import at, by_time, footprints_burst, ping_run, request, syn

from oddping.config import Settings
from processors import Engine
from processors.partitions import partition_of
from processors.lifecycle import content
from processors.scan import final_versions

VICTIM = "192.0.2.80"


def spoofed_wave(n: int, start_s: float, pps: int, target: str | None = VICTIM,
                 seed: int = 1) -> list[dict]:
    """hping3 --icmp --flood --rand-source: empty requests, each from a new random source
    (target None: each to a different target, a wave without a victim)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        octets = (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                  rng.randrange(1, 255))
        src = ".".join(map(str, octets))
        dst = target or f"198.18.{i // 250 % 256}.{i % 250 + 1}"
        out.append(request(src, dst, at(start_s + i / pps), payload_class="empty",
                           icmp_id=0x1234, seq=(i * 256) % 65536, ttl=rng.randrange(30, 250)))
    return out


def established(hosts: int) -> list[dict]:
    """Hosts with history: Windows pingers with TCP SYNs, and one Footprints host (alerts)."""
    records = []
    for h in range(hosts):
        ip = f"10.30.0.{h + 1}"
        records.append(syn(ip, "52.1.1.1", at(h * 0.01), ttl=126))
        records += ping_run(ip, "8.8.8.8", 1 + h * 0.01, 3, payload_class="windows", ttl=126,
                            icmp_id=1)
    records += footprints_burst("10.30.0.1", 20, 100, rounds=2)
    return records


def final_alerts(settings: Settings, records: list[dict]) -> tuple[list, Engine]:
    engine = Engine(settings)
    emitted = []
    for record in records:
        emitted.extend(engine.process(record))
    emitted.extend(engine.flush())
    return final_versions(emitted), engine


def settings(**processor) -> Settings:
    return Settings(processor=processor, kafka={"partitions": 4})


def test_established_hosts_survive_a_wave_of_one_packet_sources():
    base = established(30)
    wave = spoofed_wave(2000, 10, 500, target=None)  # no victim: no flood, only pressure
    cfg = settings(max_tracked_hosts=200)
    quiet, _ = final_alerts(cfg, by_time(base))
    flooded, engine = final_alerts(cfg, by_time(base + wave))

    tiers = engine.stats.hosts_evicted_by_tier
    assert tiers["probation"] >= 2000 - 200 and tiers["protected"] == 0
    assert all(f"10.30.0.{h + 1}" in engine.hosts for h in range(30))
    # the established hosts' alerts, unchanged: the wave's own alerts ran over the budget,
    # which kept room for the hosts with history (one of them reports the overflow)
    ours = [a.doc for a in flooded if a.src_ip.startswith("10.30.")]
    assert engine.stats.alerts_over_budget > 0
    reported = sum(doc["details"].pop("alerts_over_budget", 0) for doc in ours)
    assert 0 < reported <= engine.stats.alerts_over_budget
    for doc in ours:
        doc["details"].pop("alert_budget_per_minute", None)
    assert ours == [a.doc for a in quiet] and ours


def test_plain_lru_would_have_lost_them():
    """The peer: the same wave with every host admitted straight into the protected tier (as
    plain LRU does) evicts the established hosts."""
    from processors.state import admission

    cfg = settings(max_tracked_hosts=200)
    engine = Engine(cfg)
    engine.admission.floor = 10**9  # never evict probation first: plain LRU over all hosts
    for record in by_time(established(30) + spoofed_wave(2000, 10, 500, target=None)):
        engine.process(record)
    assert not any(f"10.30.0.{h + 1}" in engine.hosts for h in range(1, 30))  # 1: active later
    assert admission.PROMOTE_AFTER == 2


@pytest.mark.parametrize("partitions", [1, 4])
def test_a_spoofed_flood_is_one_alert_with_its_sources_folded(partitions):
    base = established(20)
    flood = spoofed_wave(6000, 30, 1000)
    cfg = Settings(kafka={"partitions": partitions})
    quiet, _ = final_alerts(cfg, by_time(base))
    alerts, engine = final_alerts(cfg, by_time(base + flood))

    floods = [a for a in alerts if a.rule_id == "icmp_flood"]
    assert len(floods) == 1
    doc = floods[0].doc
    assert doc["src_ip"] == VICTIM and doc["key"] == "target"
    details = doc["details"]
    owner = partition_of(VICTIM, partitions)
    share = sum(1 for r in flood if partition_of(r["src_ip"], partitions) == owner)
    assert details["sources"] == doc["packet_count"] == share
    assert details["estimated_sources"] == share * partitions
    assert details["folded_tiny_payload"] == share and details["folded_scanner_payload"] == share
    assert f"{share:,} new sources" in doc["summary"]
    assert f"{2 * share:,} per-source findings" in doc["summary"]
    # every spoofed source's findings were folded, none alerted; the other hosts unchanged
    assert engine.stats.findings_folded["tiny_payload"] == 6000
    assert engine.stats.flood_absorbed + engine.stats.hosts_folded >= 6000 - 1
    others = [content(a.doc) for a in alerts if a.rule_id != "icmp_flood"]
    assert others == [content(a.doc) for a in quiet]
    assert engine.stats.hosts_tracked <= 20 + 1


def test_flood_alerts_are_the_same_on_any_number_of_workers():
    """Each worker's engine gets its partitions' records, in order: the union of their final
    alerts is the single engine's (scan's)."""
    records = by_time(established(20) + spoofed_wave(6000, 30, 1000))
    cfg = Settings(kafka={"partitions": 4})
    single, _ = final_alerts(cfg, records)
    split = []
    for worker in range(2):
        mine = [r for r in records if partition_of(r["initiator_ip"], 4) % 2 == worker]
        split += final_alerts(cfg, mine)[0]
    assert sorted(a.alert_id for a in split) == sorted(a.alert_id for a in single)
    by_id = {a.alert_id: content(a.doc) for a in single}
    assert all(content(a.doc) == by_id[a.alert_id] for a in split)


def test_flood_alert_is_updated_while_it_runs():
    engine = Engine(Settings(kafka={"partitions": 1}))
    versions = []
    for record in spoofed_wave(60_000, 110, 300):  # 200 s at 300/s, in one 900 s window
        versions += [a for a in engine.process(record) if a.rule_id == "icmp_flood"]
    versions += [a for a in engine.flush() if a.rule_id == "icmp_flood"]
    assert len({a.alert_id for a in versions}) == 1
    counts = [a.doc["packet_count"] for a in versions]
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] > counts[0]


def test_one_fast_source_is_named_with_its_rate():
    records = [request("10.40.0.9", VICTIM, at(5 + i / 2000), payload_class="empty",
                       icmp_id=7, seq=i) for i in range(3000)]
    alerts, _ = final_alerts(Settings(), records)
    [flood] = [a.doc for a in alerts if a.rule_id == "icmp_flood"]
    assert flood["src_ip"] == "10.40.0.9" and flood["key"] == "source"
    assert flood["details"]["max_requests_per_s"] == 2000
    assert "up to 2,000 per second (threshold 500/s)" in flood["summary"]


def test_alert_budget_bounds_emissions_and_reports_the_overflow():
    # 40 new hosts each send one tiny request within the same minute, one more host later
    records = [request(f"10.50.0.{h + 1}", "203.0.113.9", at(h), payload_class="zeros",
                       icmp_id=1, seq=1) for h in range(40)]
    records += [request("10.50.1.1", "203.0.113.9", at(130), payload_class="zeros")]
    unbounded, _ = final_alerts(Settings(processor={"alert_budget_per_minute": 0}), records)
    in_minute0 = sum(1 for a in unbounded if a.src_ip != "10.50.1.1")
    assert in_minute0 >= 40

    cfg = Settings(processor={"alert_budget_per_minute": 10}, kafka={"partitions": 1})
    alerts, engine = final_alerts(cfg, records)
    # one-packet hosts are newcomers: at most half the budget
    assert sum(1 for a in alerts if a.src_ip != "10.50.1.1") == 5
    assert engine.stats.alerts_over_budget == in_minute0 - 5
    late = [a.doc for a in alerts if a.src_ip == "10.50.1.1"]
    assert late[0]["details"]["alerts_over_budget"] == in_minute0 - 5
    assert late[0]["details"]["alert_budget_per_minute"] == 10
    assert all("alerts_over_budget" not in doc["details"] for doc in late[1:])


def test_alert_budget_keeps_room_for_established_hosts():
    """Hosts with history (an ordinary ping before their tiny ones: protected when their alert
    opens, which is when the budget decides) may use the whole budget."""
    records = []
    for h in range(40):
        records.append(request(f"10.50.0.{h + 1}", "203.0.113.9", at(h), icmp_id=1, seq=1,
                               payload_class="windows", ttl=127))
        for seq in (2, 3):
            records.append(request(f"10.50.0.{h + 1}", "203.0.113.9", at(h + seq / 10),
                                   payload_class="zeros", icmp_id=1, seq=seq))
    cfg = Settings(processor={"alert_budget_per_minute": 10}, kafka={"partitions": 1})
    alerts, engine = final_alerts(cfg, records)
    assert len(alerts) == 10 and engine.stats.alerts_over_budget > 0


def test_flood_alerts_do_not_depend_on_how_partitions_interleave():
    """One worker holding all partitions gets them interleaved in chunks, each partition a
    minute ahead of or behind the others: the flood is counted by each partition's own time,
    so the final alerts are scan's."""
    records = by_time(established(20) + spoofed_wave(36_000, 110, 200))  # 180 s, one window
    cfg = Settings(kafka={"partitions": 4})
    single, _ = final_alerts(cfg, records)
    parts = [[r for r in records if partition_of(r["initiator_ip"], 4) == p] for p in range(4)]
    interleaved = []
    for start in range(0, max(map(len, parts)), 4500):  # ~90 s of a partition
        for p in (3, 1, 0, 2):
            interleaved += parts[p][start:start + 4500]
    skewed, engine = final_alerts(cfg, interleaved)
    assert {a.alert_id: content(a.doc) for a in skewed} == {a.alert_id: content(a.doc) for a in single}
    assert [a.rule_id for a in single].count("icmp_flood") == 1
    assert engine.stats.hosts_tracked == 20


def test_a_spoofed_request_carrying_a_real_hosts_address_is_folded_too():
    """A spoofed source that happens to be a tracked host's address: the host's request to the
    flooded target raises nothing of its own (its findings are counted as folded), and the
    host's other alerts stay as they were."""
    base = established(20)
    flood = spoofed_wave(6000, 30, 1000)
    cfg = Settings(kafka={"partitions": 4})
    quiet, _ = final_alerts(cfg, by_time(base))
    impostor = request("10.30.0.7", VICTIM, at(33.0005), payload_class="empty", icmp_id=0x1234,
                       seq=256, ttl=77)
    alerts, engine = final_alerts(cfg, by_time(base + flood + [impostor]))
    assert engine.stats.tracked_findings_folded >= 2  # tiny_payload, scanner_payload ...
    others = [content(a.doc) for a in alerts if a.rule_id != "icmp_flood"]
    assert others == [content(a.doc) for a in quiet]


def test_a_flood_from_the_capture_start_takes_no_budget_from_real_newcomers():
    """The flood's first sources are hosts until it is recognised, and each opens two windows
    (tiny, scanner) that take the newcomers' half of the budget.  At a capture's start every
    real host is a newcomer too: their alerts were refused (the bench's 1M-source flood cost
    the 1,000 hosts 113 of their 720 alerts).  Folded in, the sources give their share back,
    the refused alerts take it, and the real hosts' final alerts are the ones without the
    flood, with no over-budget report left in them."""
    real = [request(f"10.50.0.{h + 1}", "203.0.113.9", at(0.2 + h / 20), payload_class="zeros",
                    icmp_id=1, seq=1) for h in range(12)]
    real += [r for h in range(3) for r in footprints_burst(f"10.60.0.{h + 1}", 0.3 + h / 10, 1)]
    flood = spoofed_wave(400, 0, 200)
    cfg = Settings(processor={"alert_budget_per_minute": 100},
                   kafka={"partitions": 2}, rules={"icmp_flood": {"min_sources": 100}})
    quiet, alone = final_alerts(cfg, by_time(real))
    assert alone.stats.alerts_over_budget == 0
    alerts, engine = final_alerts(cfg, by_time(real + flood))
    assert [content(a.doc) for a in alerts if a.rule_id != "icmp_flood"] == [
        content(a.doc) for a in quiet]
    # the flood's first 50 sources per partition open 100 windows against a newcomers' half of
    # 25: without the refund the real hosts' alerts were refused
    assert len(quiet) > 25
    assert engine.stats.alerts_over_budget == 0
    assert [a.rule_id for a in alerts].count("icmp_flood") == 1


def test_a_forming_flood_opens_no_alerts_of_its_first_sources_in_the_stream():
    """In the stream, event time is the newest capture time of any partition: another
    partition ahead made the first versions of a flood's first sources due before their own
    partition had counted enough of them to recognise the flood (the bench's 1M-source flood
    put 462 such alerts on the topic, each then dismissed).  The first versions of a forming
    flood's new sources wait for the flood monitor's verdict: none goes out."""
    from processors.flood import FORMING_SOURCES

    cfg = Settings(kafka={"partitions": 4}, rules={"icmp_flood": {"min_sources": 400}})
    # another partition's records 35 s ahead (a worker catching up takes one partition's
    # fetch at a time: seconds to minutes of capture), then the flood's
    ahead = ping_run("10.30.0.1", "8.8.8.8", 0, 40, payload_class="windows", ttl=126, icmp_id=1)
    flood = spoofed_wave(2000, 5, 1000)
    engine = Engine(cfg)
    versions = []
    for record in ahead + flood:
        versions += engine.process(record)
    versions += engine.flush()
    spoofed = {a.alert_id for a in versions
               if a.rule_id != "icmp_flood" and a.src_ip != "10.30.0.1"}
    # at most the sources before the monitor saw a flood forming, two alerts each (tiny,
    # scanner), per partition; without the hold: 600
    assert len(spoofed) <= FORMING_SOURCES * 4 * 2
    assert [a.rule_id for a in final_versions(versions)].count("icmp_flood") == 1
    assert engine.stats.hosts_folded > 0  # the first sources were hosts, then folded
