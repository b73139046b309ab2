"""The engine's promises: determinism however hosts are interleaved or split, one alert per
rule/host/window with evidence accumulating, suppressions counted with reason and expiry,
bounded state (expiry, host cap) counted, and state export/import giving identical alerts."""

from __future__ import annotations

import random
import zlib

import orjson
import pytest
from recordkit import (
    at,
    by_time,
    footprints_burst,
    ping_run,
    request,
    syn,
    syns,
    zoo,
)

from oddping.config import ConfigError, Settings
from processors import Engine, scan_records
from processors.alerts import alert_id
from processors.lifecycle import content
from processors.scan import latest_versions

ODD = "10.20.0.15"


def long_mix() -> list[dict]:
    """Forty minutes: the zoo, Footprints bursts every 2 minutes on three hosts (crossing alert
    windows), ordinary pings, a sweep later on."""
    records = zoo()
    for h, host in enumerate(("10.20.0.15", "10.20.0.16", "10.20.0.17")):
        records += syns(host, "52.1.1.1", at(h), ttl=126)
        seq = 100
        for minute in range(0, 40, 2):
            records += footprints_burst(host, minute * 60 + h * 7, seq, rounds=2)
            seq += 6
            records += ping_run(host, "8.8.8.8", minute * 60 + 30 + h, 2, payload_class="windows",
                                ttl=126, icmp_id=1, first_seq=seq)
            seq += 2
    records += ping_run("10.20.5.30", "9.9.9.9", 100, 200, payload_class="linux_iputils", ttl=63,
                        icmp_id=4242, interval_s=10)
    records += [request("10.9.9.1", f"10.1.1.{n}", at(1500 + n), icmp_id=1, seq=n, ttl=64)
                for n in range(1, 40)]
    return by_time(records)


def final(alerts) -> dict[str, dict]:
    """The final versions' content (version numbers depend on how hosts interleave)."""
    latest = latest_versions(alerts)
    assert all(a.doc["status"] == "closed" for a in latest)
    return {a.alert_id: content(a.doc) for a in latest}


def run_engine(records, settings=None, **kw) -> dict[str, dict]:
    engine = Engine(settings, **kw)
    out = []
    for record in records:
        out += engine.process(record)
    out += engine.flush()
    return final(out)


def hosts_of(records):
    return sorted({r["initiator_ip"] for r in records})


@pytest.fixture(scope="module")
def mix():
    return long_mix()


@pytest.fixture(scope="module")
def reference(mix):
    return run_engine(mix)


# -- determinism ------------------------------------------------------------------------------


def test_reference_run_has_alerts_across_several_windows(reference):
    starts = {doc["window_start"] for doc in reference.values()}
    assert len(starts) >= 3 and len(reference) >= 20


def test_same_alerts_when_hosts_are_split_across_workers(mix, reference):
    for workers in (2, 3, len(hosts_of(mix))):
        merged: dict[str, dict] = {}
        for worker in range(workers):
            # Kafka-style: a host always goes to the same partition/worker.
            part = [r for r in mix if zlib.crc32(r["initiator_ip"].encode()) % workers == worker]
            merged.update(run_engine(part))
        assert merged == reference, f"{workers} workers"


def test_same_alerts_when_hosts_come_one_after_another(mix, reference):
    host_major = [r for host in hosts_of(mix) for r in mix if r["initiator_ip"] == host]
    assert run_engine(host_major) == reference
    reversed_hosts = [r for host in reversed(hosts_of(mix)) for r in mix if r["initiator_ip"] == host]
    assert run_engine(reversed_hosts) == reference


def test_same_alerts_under_random_interleaving_that_keeps_per_host_order(mix, reference):
    rng = random.Random(11)
    queues = {host: [r for r in mix if r["initiator_ip"] == host] for host in hosts_of(mix)}
    for _ in range(3):
        positions = {host: 0 for host in queues}
        shuffled = []
        while positions:
            host = rng.choice(sorted(positions))
            shuffled.append(queues[host][positions[host]])
            positions[host] += 1
            if positions[host] == len(queues[host]):
                del positions[host]
        assert run_engine(shuffled) == reference


def test_same_alerts_with_small_sweeps_and_lateness(mix, reference):
    assert run_engine(mix, lateness_s=1, sweep_interval_s=1) == reference


def test_alert_ids_are_derived_from_rule_host_key_and_window(reference):
    for doc in reference.values():
        from processors.alerts import parse_iso_ns

        start = parse_iso_ns(doc["window_start"])
        assert doc["alert_id"] == alert_id(doc["rule_id"], doc["src_ip"], doc["key"], start)


# -- dedup and updates ------------------------------------------------------------------------


def test_one_alert_per_rule_host_and_window_with_evidence_accumulating():
    records = syns(ODD, "52.1.1.1", at(0), ttl=126)
    seq = 1
    for minute in range(10):  # 10 bursts in one 15-minute window (T0 is 13m20s into one)
        records += footprints_burst(ODD, 10 + minute * 50, seq)
        seq += 9
    alerts, stats = scan_records(records)
    by_rule = {}
    for a in alerts:
        by_rule.setdefault(a.rule_id, []).append(a)
    assert all(len(v) == 1 for v in by_rule.values()) or _spans_two_windows(by_rule)
    total = sum(a.doc["packet_count"] for a in by_rule["tiny_payload"])
    assert total == 90 and stats.findings["tiny_payload"] == 90
    alert = by_rule["tiny_payload"][0]
    assert len(alert.doc["evidence"]) == 10
    assert alert.doc["evidence_omitted"] == alert.doc["packet_count"] - 10


def _spans_two_windows(by_rule):
    return all(len({a.doc["window_start"] for a in v}) == len(v) <= 2 for v in by_rule.values())


def test_shorter_windows_give_more_alerts_with_distinct_stable_ids():
    records = footprints_burst(ODD, 0, 1) + footprints_burst(ODD, 400, 10)
    settings = Settings(rules={"tiny_payload": {"alert_window_s": 60}})
    first, _ = scan_records(records, settings)
    again, _ = scan_records(records, settings)
    tiny = [a.alert_id for a in first if a.rule_id == "tiny_payload"]
    assert len(tiny) == 2 and len(set(tiny)) == 2
    assert [a.doc for a in first] == [a.doc for a in again]


def test_late_evidence_updates_an_early_emitted_alert_under_the_same_id():
    # Another host's time runs ahead (less than lateness + idle expiry): A's window gets its
    # open versions on that time; then A's delayed records arrive, and the final version of the
    # same alert_id carries them.
    settings = Settings(rules={"tiny_payload": {"alert_window_s": 60}})
    engine = Engine(settings, lateness_s=60, sweep_interval_s=10)
    emitted = []
    for r in footprints_burst(ODD, 100, 1):  # window T0+100 s .. T0+160 s
        emitted += engine.process(r)
    for t in (300, 315, 330):
        emitted += engine.process(request("10.99.0.1", "10.0.0.1", at(t), ttl=64))
    early = [a for a in emitted if a.rule_id == "tiny_payload"]
    assert [a.doc["status"] for a in early] == ["open"] * len(early)
    assert early[-1].doc["packet_count"] == 9
    for r in footprints_burst(ODD, 120, 10):  # same window, arriving late
        emitted += engine.process(r)
    emitted += engine.flush()
    tiny = [a for a in emitted if a.rule_id == "tiny_payload"]
    assert len({a.alert_id for a in tiny}) == 1
    assert [a.doc["version"] for a in tiny] == list(range(1, len(tiny) + 1))
    assert tiny[-1].doc["packet_count"] == 18 and tiny[-1].doc["status"] == "closed"
    stats = engine.stats
    assert sum(stats.versions.values()) == stats.alerts_emitted + stats.alerts_updated


def test_emit_pending_keeps_windows_open_for_later_evidence():
    # A stream that goes quiet: emit now, and let the same window grow later.
    engine = Engine()
    first = []
    for r in footprints_burst(ODD, 0, 1):
        engine.process(r)
    first = engine.emit_pending()
    assert {a.rule_id for a in first} == {"multi_destination_sequence", "tiny_payload", "unknown_payload"}
    assert engine.emit_pending() == []  # nothing new
    for r in footprints_burst(ODD, 30, 10):
        engine.process(r)
    later = final(first + engine.flush())
    assert set(later) == {a.alert_id for a in first}
    assert all(doc["packet_count"] == 18 for doc in later.values())
    assert engine.stats.late_findings == {}


def test_forget_drops_a_host_without_alerts_or_counts():
    engine = Engine()
    for r in footprints_burst(ODD, 0, 1):
        engine.process(r)
    engine.forget(ODD)
    assert engine.flush() == [] and engine.stats.hosts_tracked == 0
    assert engine.stats.hosts_expired == engine.stats.hosts_evicted == 0


def test_flush_at_a_time_closes_only_windows_ended_by_then():
    engine = Engine()
    for r in footprints_burst(ODD, 0, 1):  # T0 = 22:13:20, window 22:00-22:15
        engine.process(r)
    assert engine.flush(at(60)) == []
    assert {a.rule_id for a in engine.flush(at(101))} == {
        "multi_destination_sequence", "tiny_payload", "unknown_payload"
    }


# -- suppressions -----------------------------------------------------------------------------


def suppressed_run(*suppressions):
    records = syns(ODD, "52.1.1.1", at(0), ttl=126) + footprints_burst(ODD, 5, 40)
    return scan_records(records, Settings(suppressions=list(suppressions)))


def test_suppression_by_destination_and_payload_class_is_counted_with_its_reason():
    alerts, stats = suppressed_run(
        {"reason": "O365 Footprints, MS case 123", "dst_cidr": "13.107.0.0/16", "payload_class": "zeros"},
        {"reason": "O365 Footprints, MS case 123", "dst_cidr": "52.112.0.0/14"},
    )
    assert alerts == []
    assert stats.suppressed["O365 Footprints, MS case 123"] == 4 * 9


def test_suppression_by_rule_and_source_leaves_other_rules():
    alerts, stats = suppressed_run(
        {"reason": "lab host", "rule": "tiny_payload", "src_cidr": "10.20.0.0/24"}
    )
    assert "tiny_payload" not in {a.rule_id for a in alerts}
    assert {"ttl_deviation", "unknown_payload", "multi_destination_sequence"} <= {a.rule_id for a in alerts}
    assert stats.suppressed == {"lab host": 9}


def test_expired_suppression_lets_findings_through_and_counts_them():
    # The capture is from 2023-11-14: a suppression that ended 2023-11-13 no longer applies.
    alerts, stats = suppressed_run({"reason": "change window", "src_cidr": ODD + "/32", "expires": "2023-11-13"})
    assert len(alerts) == 4 and not stats.suppressed
    assert stats.suppression_expired["change window"] == 36
    # Same entry, expiring after the capture (event time, not the clock): suppressed.
    alerts, stats = suppressed_run({"reason": "change window", "src_cidr": ODD + "/32", "expires": "2023-11-14T23:00:00Z"})
    assert alerts == [] and stats.suppressed["change window"] == 36


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"reason": "x", "rule": "tiny"}, "unknown rule 'tiny'"),
        ({"reason": "x", "src_cidr": "10.0.0.300/8"}, "src_cidr"),
        ({"reason": "x", "expires": "next tuesday"}, "expiry"),
    ],
)
def test_bad_suppressions_are_config_errors(entry, words):
    with pytest.raises(ConfigError, match=words):
        Engine(Settings(suppressions=[entry]))


# -- bounded state ----------------------------------------------------------------------------


def test_idle_hosts_expire_on_event_time_and_their_alerts_are_emitted():
    settings = Settings(processor={"host_idle_expiry_s": 60})
    engine = Engine(settings, lateness_s=5, sweep_interval_s=5)
    out = []
    for r in footprints_burst(ODD, 0, 1):
        out += engine.process(r)
    for t in range(10, 200, 10):
        out += engine.process(request("10.99.0.1", "10.0.0.1", at(t), ttl=64, seq=t))
    assert ODD not in engine.hosts and engine.stats.hosts_expired == 1
    assert {a.rule_id for a in out if a.src_ip == ODD} == {
        "multi_destination_sequence", "tiny_payload", "unknown_payload"
    }
    # The host's own gap expires it too, when it comes back after a long silence.
    for r in footprints_burst("10.99.0.1", 400, 1):
        engine.process(r)
    assert engine.stats.hosts_expired == 2


def test_host_cap_evicts_the_least_recently_active_and_counts_it():
    settings = Settings(processor={"max_tracked_hosts": 2})
    engine = Engine(settings)
    out = []
    for n, host in enumerate(("10.20.0.15", "10.20.0.16", "10.20.0.17")):
        for r in footprints_burst(host, n * 5, 1):
            out += engine.process(r)
    assert engine.stats.hosts_evicted == 1 and list(engine.hosts) == ["10.20.0.16", "10.20.0.17"]
    assert engine.stats.hosts_tracked == 2
    out += engine.flush()
    assert {a.src_ip for a in out} == {"10.20.0.15", "10.20.0.16", "10.20.0.17"}  # none lost


def test_per_host_memory_stays_bounded_under_random_identifiers():
    engine = Engine()
    rng = random.Random(5)
    for n in range(5000):  # icmptunnel-style: random id and sequence on every packet
        engine.process(request(ODD, f"198.51.{n % 250}.{n % 199}", at(n * 0.01),
                               icmp_id=rng.randrange(65536), seq=rng.randrange(65536), ttl=255,
                               payload_class="unknown"))
    state = engine.state_for(ODD)
    assert len(state["requests"]) <= 8 and all(len(r) <= 16 for _, r in state["requests"])
    assert len(orjson.dumps(state)) < 64_000


# -- state export / import --------------------------------------------------------------------


def test_state_round_trip_through_json_gives_identical_alerts(mix, reference):
    half = len(mix) // 2
    first = Engine()
    emitted = []
    for r in mix[:half]:
        emitted += first.process(r)
    saved = {host: orjson.loads(orjson.dumps(first.state_for(host))) for host in first.hosts_tracked()}
    second = Engine()
    for host, state in saved.items():
        second.load_state(host, state)
        assert second.state_for(host) == state
    for r in mix[half:]:
        emitted += second.process(r)
    emitted += second.flush()
    assert final(emitted) == reference


def test_load_state_and_take_changes_serve_a_table(mix, reference):
    """What the faust worker does: state lives in a table, the engine loads and reports it."""
    table: dict[str, dict] = {}
    emitted = []
    cut = len(mix) // 3
    for chunk in (mix[:cut], mix[cut:]):  # a "restart" between chunks: a fresh engine
        engine = Engine(track_changes=True)
        for host, state in table.items():  # adopts every saved host, as the worker does
            emitted += engine.load_state(host, state)
        for r in chunk:
            host = r["initiator_ip"]
            if host not in engine.hosts and host in table:
                emitted += engine.load_state(host, table[host])
            emitted += engine.process(r)
            for host, state in engine.take_changes().items():
                if state is None:
                    table.pop(host, None)
                else:
                    table[host] = orjson.loads(state)
    emitted += engine.flush()
    assert final(emitted) == reference


def test_a_loaded_state_that_went_stale_expires_on_the_hosts_next_record():
    first = Engine()
    for r in footprints_burst(ODD, 0, 1):
        first.process(r)
    saved = first.state_for(ODD)  # open windows, not emitted
    second = Engine(Settings(processor={"host_idle_expiry_s": 60}))
    second.load_state(ODD, saved)
    out = second.process(request(ODD, "10.0.0.1", at(3600), ttl=64))
    assert second.stats.hosts_expired == 1
    assert {a.rule_id for a in out} == {"multi_destination_sequence", "tiny_payload", "unknown_payload"}
    assert second.hosts[ODD].first_ns == at(3600)


def test_load_state_rejects_a_state_for_another_host():
    engine = Engine()
    engine.process(request(ODD, "10.0.0.1", at(1), ttl=64))
    with pytest.raises(ValueError):
        Engine().load_state("10.0.0.9", engine.state_for(ODD))


# -- robustness and counters ------------------------------------------------------------------


def test_invalid_records_are_counted_and_processing_goes_on():
    engine = Engine()
    good = footprints_burst(ODD, 0, 1)
    bad_ts = dict(good[0], ts_ns="yesterday")
    no_ip = {k: v for k, v in good[1].items() if k != "initiator_ip"}
    echo_without_id = dict(good[2], icmp_id=None)
    for r in [bad_ts, "not a record", {"kind": "tcp"}, no_ip, echo_without_id] + good:
        engine.process(r)
    stats = engine.stats
    assert stats.invalid_records == 5 and stats.records_seen == 5 + len(good)
    assert stats.invalid_reasons == {"ts_ns": 1, "kind": 2, "initiator_ip": 1, "icmp_id": 1}
    assert stats.last_invalid_reason == "icmp_id"
    assert len(engine.flush()) == 3


def test_other_icmp_and_out_of_order_records_are_counted():
    from recordkit import icmp

    engine = Engine()
    engine.process(request(ODD, "10.0.0.1", at(10), ttl=64))
    engine.process(request(ODD, "10.0.0.1", at(5), ttl=64, seq=2))
    engine.process(icmp("10.0.0.1", ODD, at(11), icmp_type=3, icmp_code=3, icmp_id=None, seq=None,
                        initiator=ODD, payload_class="not_echo", data=bytes(28)))
    assert engine.stats.out_of_order == 1 and engine.stats.records_other_icmp == 1
    assert engine.stats.as_dict()["records_by_event"] == {"echo_request": 2}


def test_ipv6_echoes_are_handled_like_ipv4():
    host = "2001:db8::15"
    records = syns(host, "2001:db8:ff::1", at(0), ttl=126)
    seq = 40
    for i, dst in enumerate(("2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1") * 3):
        records.append(request(host, dst, at(1 + i * 0.1), icmp_id=1, seq=seq, ttl=28,
                               payload_class="zeros"))
        seq += 1
    alerts, _ = scan_records(records)
    assert {a.rule_id for a in alerts} == {
        "multi_destination_sequence", "tiny_payload", "unknown_payload", "ttl_deviation"
    }
    assert all(a.doc["ip_version"] == 6 and a.doc["icmp_types"] == [128] for a in alerts)
