"""Many sensors, one truth (issue 13): TTL profiles per (host, sensor), several stacks behind
one address, other sensors' copies of a packet counted once, sensor clock offsets, late sensors."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from recordkit import (
    T0,
    at,
    by_time,
    footprints_burst,
    ping_run,
    random_data,
    reply,
    reply_to,
    request,
    syns,
    zoo,
)

import schemas
from oddping.config import Settings
from processors import Engine
from processors.lifecycle import content
from processors.scan import latest_versions
from processors.state import dedup, pairing

ACCESS, EDGE = "access", "edge"
ODD = "10.20.0.15"
MS = 1_000_000


def at_sensor(records: list[dict], sensor: str) -> list[dict]:
    return [dict(r, sensor_id=sensor) for r in records]


def further_out(records: list[dict], sensor: str = EDGE, hops: int = 3,
                delay_ms: float = 2.0) -> list[dict]:
    """The same packets as a sensor `hops` routers further towards the internet captures them:
    the host's packets later and with a lower TTL, what comes from outside earlier and higher."""
    out = []
    for r in records:
        c = dict(r, sensor_id=sensor)
        outbound = r["src_ip"] == r["initiator_ip"]
        c["ttl"] = r["ttl"] - hops if outbound else r["ttl"] + hops
        c["ts_ns"] = r["ts_ns"] + int(delay_ms * MS) * (1 if outbound else -1)
        if r["kind"] == "host_observation":
            c["hop_distance_guess"] = r["hop_distance_guess"] + hops
        out.append(c)
    return out


def run(records, settings=None):
    engine = Engine(settings)
    out = []
    for record in records:
        out += engine.process(record)
    out += engine.flush()
    return {a.alert_id: a.doc for a in latest_versions(out)}, engine


def campus() -> list[dict]:
    """The access layer's view: the zoo plus benign Windows and Linux hosts."""
    records = at_sensor(zoo(), ACCESS)
    records += at_sensor(syns("10.20.1.5", "52.1.1.1", at(1), ttl=127), ACCESS)
    records += at_sensor(ping_run("10.20.1.5", "8.8.8.8", 2, 8, payload_class="windows", ttl=127,
                                  icmp_id=1, first_seq=10), ACCESS)
    records += at_sensor(syns("10.20.1.6", "52.1.1.1", at(3), ttl=63), ACCESS)
    records += at_sensor(ping_run("10.20.1.6", "9.9.9.9", 4, 8, payload_class="linux_iputils",
                                  ttl=63, icmp_id=700), ACCESS)
    return by_time(records)


def counts(alerts: dict) -> dict[str, tuple[str, int]]:
    return {i: (doc["rule_id"], doc["packet_count"]) for i, doc in alerts.items()}


# -- duplicates are one packet ------------------------------------------------------------------


def test_two_sensors_give_the_alerts_of_one_each_counted_once_naming_both() -> None:
    access = campus()
    one, _ = run(access)
    both, engine = run(by_time(access + further_out(access)))
    assert counts(both) == counts(one)
    for doc in both.values():
        assert schemas.first_error(schemas.ALERT_SCHEMA, doc) is None
        assert sorted(doc["sensor_ids"]) == [ACCESS, EDGE], doc["rule_id"]
        copies = [c for e in doc["evidence"] for c in e.get("copies", ())]
        assert copies and {c["sensor_id"] for c in copies} | {
            e["sensor_id"] for e in doc["evidence"]} == {ACCESS, EDGE}
    assert sum(engine.stats.copies.values()) > 0
    assert {a["src_ip"] for a in both.values()}.isdisjoint({"10.20.1.5", "10.20.1.6"})


def test_traffic_one_sensor_alone_sees_is_its_alone() -> None:
    access = campus()
    # the edge does not see the host's pings to an internal server (10.0.0.1)
    edge = [r for r in further_out(access) if "10.0.0.1" not in (r["src_ip"], r["dst_ip"])]
    both, _ = run(by_time(access + edge))
    one, _ = run(access)
    assert counts(both) == counts(one)
    internal = [d for d in both.values() if "10.0.0.1" in d["dst_ips"]]
    assert internal and all(d["sensor_ids"] == [ACCESS] for d in internal)


def test_a_volume_rule_counts_each_packet_once() -> None:
    """icmp_tunnel needs 20 data-carrying echoes with one peer: 8 requests and their replies are
    16 packets, seen by two sensors 32 records.  12 exchanges (24 packets) do fire."""
    import random

    def exchange(n: int) -> list[dict]:
        rng = random.Random(5)
        records = []
        for k in range(n):
            req = request("10.70.0.5", "198.51.100.9", at(k), icmp_id=77, seq=k, ttl=64,
                          payload_class="unknown", data=random_data(rng, 150, 400))
            records += [req, reply_to(req, data=random_data(rng, 150, 400))]
        return at_sensor(records, ACCESS)

    few = exchange(8)
    assert "icmp_tunnel" not in {d["rule_id"] for d in run(by_time(few + further_out(few)))[0].values()}
    many = exchange(12)
    assert "icmp_tunnel" in {d["rule_id"] for d in run(by_time(many + further_out(many)))[0].values()}


def test_copies_either_side_of_a_window_boundary_are_one_packet() -> None:
    width = 900 * 10**9
    boundary = T0 - T0 % width + width
    first = request("10.60.0.1", "198.51.100.7", boundary - MS, icmp_id=3, seq=1,
                    payload_class="unknown", sensor=ACCESS)
    copy = dict(first, sensor_id=EDGE, ttl=61, ts_ns=boundary + MS)
    alerts, engine = run([first, copy])
    (doc,) = [d for d in alerts.values() if d["rule_id"] == "unknown_payload"]
    assert doc["packet_count"] == 1 and doc["sensor_ids"] == [ACCESS, EDGE]
    assert doc["evidence"][0]["copies"] == [{"sensor_id": EDGE, "ttl": 61, "delay_ns": 2 * MS}]
    assert engine.stats.copies == {EDGE: 1}


def test_one_sensor_never_merges_its_own_packets() -> None:
    """A ping re-sent with the same sequence is a new packet (a new IP id, later), and so is
    the same request from another client behind a NAT (another IP id) a moment later."""
    record = request("10.60.0.1", "198.51.100.7", at(0), payload_class="unknown", sensor=ACCESS)
    resent = dict(record, ts_ns=at(1), ip_id=record["ip_id"] + 1)
    alerts, engine = run([record, dict(record, ts_ns=at(0.0002), ip_id=77), resent])
    assert [d["packet_count"] for d in alerts.values()] == [3]
    assert not engine.stats.copies and not engine.stats.same_sensor_duplicates


def test_a_sensor_capturing_a_packet_twice_counts_it_once() -> None:
    """A SPAN of both directions (or two mirrored ports into one sensor) gives every packet
    twice, microseconds apart, with the same TTL and IP id: one packet, counted per sensor.
    The same packet a moment past duplicate_window_s is a packet of its own."""
    host = "10.60.0.2"
    packets = []
    for n in range(6):
        req = dict(request(host, "198.51.100.8", at(n), icmp_id=5, seq=n,
                           payload_class="unknown", sensor=ACCESS), ip_id=100 + n)
        packets += [req, reply_to(req, sensor=ACCESS)]
    twice = by_time(packets + [dict(r, ts_ns=r["ts_ns"] + 40_000) for r in packets])
    once, _ = run(packets)
    # one sensor seen (the engine-wide ring), and several sensors expected (the host's memory)
    for settings in (None, Settings(processor={"several_sensors": True})):
        alerts, engine = run(twice, settings)
        assert counts(alerts) == counts(once)
        assert [d["packet_count"] for d in alerts.values()] == [6]
        assert engine.stats.same_sensor_duplicates == Counter({ACCESS: 12})
        assert not engine.stats.copies
    slower, engine = run(twice, Settings(processor={"duplicate_window_s": 0.00001}))
    assert [d["packet_count"] for d in slower.values()] == [12]
    assert not engine.stats.same_sensor_duplicates
    # the same packet twice at one sensor and once at another: one packet, two sensors
    edge = further_out(packets)
    alerts, engine = run(by_time(twice + edge))
    assert counts(alerts) == counts(once)
    assert [sorted(d["sensor_ids"]) for d in alerts.values()] == [[ACCESS, EDGE]]
    # (the edge sees the replies first: the access layer's two captures of each are copies)
    assert sum(engine.stats.copies.values()) + sum(
        engine.stats.same_sensor_duplicates.values()) == len(twice) + len(edge) - 12


def test_a_second_sensor_starting_mid_stream_has_its_copies_recognised() -> None:
    """Until a second sensor comes the engine remembers nothing per host; when the edge starts
    20 s in, the packets the access layer gave just before are handed over, so the edge's
    first copies (2 ms later) are copies, and so is everything after."""
    access = campus()
    start = at(20)
    edge = [r for r in further_out(access) if r["ts_ns"] >= start]
    assert len(edge) >= 20
    one, _ = run(access)
    engine = Engine()
    for record in access[:len(access) // 2]:
        engine.process(record)
    assert all(not host.copies for host in engine.hosts.values())  # no memory per host yet
    both, engine = run(by_time(access + edge))
    assert counts(both) == counts(one)
    assert sum(engine.stats.copies.values()) == len(
        [r for r in edge if r["kind"] == "icmp"]) and not engine.stats.copies_unrecognised


def test_copies_seen_after_a_partition_moved_are_still_copies() -> None:
    access = campus()
    merged = by_time(access + further_out(access))
    reference, _ = run(merged)
    first, second = Engine(), Engine()
    out = []
    half = len(merged) // 2
    for record in merged[:half]:
        out += first.process(record)
    for host in list(first.hosts_tracked()):
        second.load_state(host, first.state_for(host))
    for record in merged[half:]:
        out += second.process(record)
    out += second.flush()
    resumed = {a.alert_id: a.doc for a in latest_versions(out)}
    assert counts(resumed) == counts(reference)


# -- a request and its reply at different sensors ------------------------------------------------


def test_request_and_reply_at_different_sensors_pair_up() -> None:
    host = "10.50.0.9"
    records = syns(host, "203.0.113.1", at(0), ttl=127, sensor=ACCESS)
    for n in range(12):  # requests only at the access layer, replies only at the edge
        req = request(host, "203.0.113.99", at(1 + n * 0.5), icmp_id=3000, seq=n, ttl=127,
                      payload_class="unknown", sensor=ACCESS)
        records += [req, reply_to(req, sensor=EDGE)]
    alerts, _ = run(by_time(records))
    assert "unsolicited_reply" not in {d["rule_id"] for d in alerts.values()}
    # and with other data in the replies, reply_mismatch pairs them across sensors too
    odd = [dict(r, payload_sha256="0" * 64) if r.get("icmp_type") == 0 else r
           for r in records]
    alerts, _ = run(by_time(odd))
    (doc,) = [d for d in alerts.values() if d["rule_id"] == "reply_mismatch"]
    assert doc["packet_count"] == 12 and doc["sensor_ids"] == [EDGE]


def test_a_reply_processed_before_its_request_pairs_up_later() -> None:
    """The edge sees only the replies to the host's pings (and the host's SYNs), the access
    layer the requests; the edge publishes its whole capture first.  The replies, processed
    before their requests, pair up when the requests come: reply_mismatch compares them, and
    unsolicited_reply never counts them (it judges a reply once no request can come within the
    late bound), so three replies that answer nothing and six more later stay below its ten,
    as on time."""
    host, peer = "10.50.0.9", "203.0.113.99"
    syn = syns(host, "203.0.113.1", at(0), ttl=127, sensor=ACCESS)
    requests = [request(host, peer, at(1 + n * 0.5), icmp_id=3000, seq=n, ttl=127,
                        payload_class="unknown", sensor=ACCESS) for n in range(6)]
    rng = random.Random(13)
    replies = [reply_to(r, sensor=EDGE, data=random_data(rng, 60, 60), payload_class="unknown")
               for r in requests]
    lone = [reply(peer, host, at(5 + n * 0.1), icmp_id=4000, seq=n, payload_class="unknown",
                  sensor=EDGE) for n in range(3)]
    later = [reply(peer, host, at(20 + n), icmp_id=4001, seq=n, payload_class="unknown",
                   sensor=EDGE) for n in range(6)]
    edge = by_time(at_sensor(syn, EDGE) + replies + lone)
    access = by_time(syn + requests)
    for settings in (None, Settings(processor={"several_sensors": True})):
        on_time, _ = run(by_time(edge + access) + later, settings)
        late, engine = run(edge + access + later, settings)
        assert counts(late) == counts(on_time)
        assert "unsolicited_reply" not in {d["rule_id"] for d in late.values()}
        (doc,) = [d for d in late.values() if d["rule_id"] == "reply_mismatch"]
        assert doc["packet_count"] == 6 and doc["sensor_ids"] == [EDGE]
        assert engine.stats.late_pairings == 6
        # the paired replies left the memory; those answering nothing waited for their
        # requests until the input ended
        assert engine.stats.replies_unanswered == 9
        assert "late_replies" not in engine.hosts[host].scratch


def test_late_pairing_stays_within_the_late_bound() -> None:
    """A request processed after a reply captured more than sensor_late_bound_s after it
    does not pair with it (nor with a reply captured before it)."""
    host, peer = "10.50.0.9", "203.0.113.99"
    req = request(host, peer, at(0), icmp_id=9, seq=1, payload_class="unknown", sensor=ACCESS)
    rng = random.Random(14)
    odd = reply_to(req, delay_s=90, sensor=EDGE, data=random_data(rng, 60, 60),
                   payload_class="unknown")
    early = dict(reply_to(req, sensor=EDGE, data=random_data(rng, 60, 60),
                          payload_class="unknown"), ts_ns=req["ts_ns"] - MS)
    alerts, engine = run([early, odd, req], Settings(processor={"sensor_late_bound_s": 60}))
    assert "reply_mismatch" not in {d["rule_id"] for d in alerts.values()}
    assert engine.stats.late_pairings == 0
    alerts, engine = run([early, odd, req])  # 300 s: the 90 s late reply pairs
    assert engine.stats.late_pairings == 1


# -- TTL profiles per (host, sensor) --------------------------------------------------------------


def test_a_host_is_judged_against_its_own_sensors_profile() -> None:
    """SYNs learned at the access layer (TTL 126: 128 at 2 hops); ordinary Windows pings seen
    only at the edge, three routers on (TTL 123).  One profile for the host would read them as
    initial 125."""
    records = syns(ODD, "52.1.1.1", at(0), ttl=126, sensor=ACCESS)
    records += [request(ODD, "8.8.8.8", at(5 + n), icmp_id=1, seq=n, ttl=123,
                        payload_class="unknown", sensor=EDGE) for n in range(6)]
    alerts, _ = run(by_time(records))
    assert "ttl_deviation" not in {d["rule_id"] for d in alerts.values()}
    # the same records from one sensor: the profile does accuse them (the test can fail)
    alerts, _ = run(by_time(at_sensor(records, ACCESS)))
    assert "ttl_deviation" in {d["rule_id"] for d in alerts.values()}


def test_the_seed_is_found_at_each_sensor_against_its_own_profile() -> None:
    access = syns(ODD, "52.1.1.1", at(0), ttl=126, sensor=ACCESS)
    access += at_sensor(footprints_burst(ODD, 5, 40), ACCESS)
    alerts, _ = run(by_time(further_out(access)))  # the edge alone: TTL 25 at 5 hops
    (doc,) = [d for d in alerts.values() if d["rule_id"] == "ttl_deviation"]
    assert doc["details"]["implied_initial_ttl"] == 30 and doc["details"]["hop_distance"] == 5


@pytest.mark.parametrize("order", ["nat", "dual_boot"])
def test_several_stacks_behind_one_address_raise_nothing(order: str) -> None:
    """A NAT with Linux (64) and Windows (128) clients behind it, each 2 hops from the sensor,
    or a dual-boot host (Linux, then Windows ten minutes later): pings of both stacks are normal."""
    host = "10.20.9.1"
    linux = syns(host, "52.1.1.1", at(0), ttl=62, sensor=ACCESS) + at_sensor(ping_run(
        host, "9.9.9.9", 10, 6, payload_class="linux_iputils", ttl=62, icmp_id=900), ACCESS)
    start = 1 if order == "nat" else 600
    windows = syns(host, "52.1.1.2", at(start), ttl=126, sensor=ACCESS) + at_sensor(ping_run(
        host, "8.8.8.8", start + 12, 6, payload_class="windows", ttl=126, icmp_id=1), ACCESS)
    records = by_time(linux + windows)
    alerts, engine = run(records)
    assert alerts == {}
    assert sorted(s[0] for s in engine.hosts[host].vantage[ACCESS]) == [64, 128]
    # the NAT does not blind the rules: a Footprints burst from behind it is still odd
    burst = at_sensor(footprints_burst(host, start + 30, 40), ACCESS)
    alerts, _ = run(by_time(records + burst))
    assert "ttl_deviation" in {d["rule_id"] for d in alerts.values()}


def test_an_imitating_ping_does_not_teach_a_stack() -> None:
    """Windows data at TTL 120 from a host whose SYNs put it 2 hops away: not a stack behind a
    NAT (that would sit at 2 hops too) but a tool imitating Windows."""
    records = syns(ODD, "52.1.1.1", at(0), ttl=62, sensor=ACCESS)
    records.append(request(ODD, "10.0.0.1", at(1), ttl=120, payload_class="windows",
                           sensor=ACCESS))
    alerts, _ = run(records)
    assert "os_ttl_mismatch" in {d["rule_id"] for d in alerts.values()}


def test_one_observation_cannot_accuse() -> None:
    one = syns(ODD, "52.1.1.1", at(0), ttl=126, sensor=ACCESS, n=1)
    burst = at_sensor(footprints_burst(ODD, 5, 40), ACCESS)
    alerts, _ = run(by_time(one + burst))
    assert "ttl_deviation" not in {d["rule_id"] for d in alerts.values()}
    # a second SYN later: the sensor's remembered requests are judged then, once each
    second = syns(ODD, "52.1.1.1", at(30), ttl=126, sensor=ACCESS, n=1)
    alerts, _ = run(by_time(one + burst + second))
    (doc,) = [d for d in alerts.values() if d["rule_id"] == "ttl_deviation"]
    assert doc["packet_count"] == len(burst)


def test_profiles_are_bounded() -> None:
    from processors.state import vantage

    records = []
    for s in range(vantage.SENSORS_PER_HOST + 3):
        for initial, ttl in ((64, 60), (128, 124), (255, 251), (32, 28), (60, 56), (200, 196)):
            records += syns(ODD, "52.1.1.1", at(s), ttl=ttl, sensor=f"s{s}")
    _, engine = run(records)
    state = engine.hosts[ODD].vantage
    assert len(state) == vantage.SENSORS_PER_HOST
    assert all(len(stacks) <= vantage.STACKS_PER_SENSOR for stacks in state.values())


# -- sensor clocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("skew_ms, warned", [(300, False), (900, True)])
def test_clock_offsets_are_estimated_from_copies(skew_ms: float, warned: bool) -> None:
    access = campus()
    edge = further_out(access)
    for record in edge:
        record["ts_ns"] += skew_ms * MS  # the edge's clock is ahead
    calls = []
    engine = Engine()
    engine.clocks.warn = lambda sensor, offset, against: calls.append((sensor, round(offset, 2)))
    for record in by_time(access + edge):
        engine.process(record)
    offsets = engine.clocks.offsets_s()
    assert offsets[EDGE] == pytest.approx(skew_ms / 1000, abs=0.005)
    assert offsets[ACCESS] == pytest.approx(-skew_ms / 1000, abs=0.005)
    assert bool(calls) == warned
    assert sum(engine.stats.copies.values()) == len([r for r in edge if r["kind"] == "icmp"])


# -- late sensors -----------------------------------------------------------------------------------


def test_a_sensor_a_whole_capture_late_gives_the_same_alerts() -> None:
    """The edge catches up after an outage: all its records come after all the access
    layer's, some for traffic only it saw (within sensor_late_bound_s)."""
    access = campus()
    # the access layer sees 10.20.0.99 only after T0 + 100 s, where a 15-minute window ends:
    # its time passes the end of the window that the edge's late records belong to
    assert (at(100) // 10**9) % 900 == 0
    access = by_time(access + at_sensor(ping_run("10.20.0.99", "8.8.8.8", 110, 2,
                                                 payload_class="windows", ttl=126, icmp_id=1,
                                                 first_seq=200), ACCESS))
    edge = further_out(access)
    edge_only = at_sensor(footprints_burst("10.20.0.99", 20, 10, ttl=25), EDGE)
    edge_only += at_sensor(syns("10.20.0.99", "52.1.1.1", at(1), ttl=123), EDGE)
    edge = by_time(edge + edge_only)
    expected = Settings(processor={"several_sensors": True})  # as a campus deployment sets it
    on_time, _ = run(by_time(access + edge), expected)
    late, engine = run(access + edge, expected)
    assert counts(late) == counts(on_time)
    assert {i: sorted(d["sensor_ids"]) for i, d in late.items()} == {
        i: sorted(d["sensor_ids"]) for i, d in on_time.items()}
    assert "10.20.0.99" in {d["src_ip"] for d in late.values()}
    assert not engine.stats.late_records


def test_records_past_the_late_bound_are_counted_per_sensor() -> None:
    settings = Settings(processor={"sensor_late_bound_s": 60})
    access = at_sensor(footprints_burst(ODD, 5, 40) + syns(ODD, "52.1.1.1", at(0), ttl=126),
                       ACCESS)
    access += at_sensor(ping_run(ODD, "8.8.8.8", 100, 3, payload_class="windows", ttl=126,
                                 icmp_id=1, first_seq=60), ACCESS)
    late = at_sensor(footprints_burst(ODD, 30, 80), EDGE)  # 70 s behind the host's time
    alerts, engine = run(by_time(access) + late, settings)
    assert engine.stats.late_records == Counter({EDGE: len(late)})
    assert engine.stats.records_seen == len(access) + len(late)  # processed, not dropped


def test_reply_only_sensor_sees_no_outbound() -> None:
    """Replies reaching a host at a sensor that never saw it send stay quiet (asymmetric
    routing), even though another sensor sees its outbound traffic: the rule asks per sensor."""
    host = "10.50.0.9"
    records = syns(host, "203.0.113.1", at(0), ttl=127, sensor=ACCESS)
    records += [reply("203.0.113.99", host, at(1 + n * 0.5), icmp_id=4000 + n, seq=n,
                      payload_class="unknown", sensor=EDGE) for n in range(12)]
    alerts, _ = run(by_time(records))
    assert alerts == {}


def test_a_late_sensors_copies_of_a_chatty_host_are_recognised_when_expected() -> None:
    """A host pinging every second for three minutes (360 packets) and the edge's copies of
    them all after the access layer's: with several_sensors the copy memory spans the late
    bound; without it the engine, having seen one sensor, remembered the stream's last
    dedup.RECENT records and counts the rest (copies_unrecognised), never silently."""
    host = "10.70.0.9"
    access = at_sensor(ping_run(host, "198.51.100.4", 0, 180, payload_class="unknown",
                                ttl=64, icmp_id=99), ACCESS)
    late = access + further_out(access)
    one, _ = run(access)
    expected, engine = run(late, Settings(processor={"several_sensors": True}))
    assert counts(expected) == counts(one) and sum(engine.stats.copies.values()) == 360
    assert not engine.stats.copies_unrecognised
    _, engine = run(late)
    # having seen one sensor, the engine kept the stream's last RECENT records (no memory per
    # host): the edge's copies of those are recognised, the older ones counted
    assert engine.stats.copies[EDGE] == dedup.RECENT
    assert engine.stats.copies_unrecognised[EDGE] == 360 - dedup.RECENT
    assert sum(engine.stats.copies.values()) + engine.stats.copies_unrecognised[EDGE] == 360


# -- a late sensor's requests: what the replies waiting for them give ------------------------------


def _split_pings(answered: int, lone: int) -> tuple[list[dict], list[dict]]:
    """The host's pings seen in halves: the access layer captures the requests, the edge only
    the replies to them (asymmetric routing), plus `lone` replies that answer nothing, in
    between.  Both sensors see the host's SYNs (its outbound traffic)."""
    host, peer = "10.50.0.9", "203.0.113.99"
    syn = syns(host, "203.0.113.1", at(0), ttl=127, sensor=ACCESS)
    requests = [request(host, peer, at(1 + n * 0.5), icmp_id=3000, seq=n, ttl=127,
                        payload_class="unknown", sensor=ACCESS) for n in range(answered)]
    replies = [reply_to(r, sensor=EDGE) for r in requests]
    lone_replies = [reply(peer, host, at(1.25 + n * 0.5), icmp_id=4000, seq=n,
                          payload_class="unknown", sensor=EDGE) for n in range(lone)]
    return by_time(syn + requests), by_time(at_sensor(syn, EDGE) + replies + lone_replies)


def _final(alerts: dict) -> dict[str, dict]:
    """alert_id -> what its final version says was found (its version fields aside)."""
    return {alert_id: content(doc) for alert_id, doc in alerts.items()}


@pytest.mark.parametrize("answered, lone, settings", [
    # 13 replies wait for requests: within what the engine keeps while it has seen one sensor
    (10, 3, None),
    (10, 3, Settings(processor={"several_sensors": True})),
    # 24 wait: a campus deployment (several_sensors) keeps 64 per host
    (12, 12, Settings(processor={"several_sensors": True})),
])
def test_replies_whose_requests_come_late_are_never_unsolicited(
        answered: int, lone: int, settings: Settings | None) -> None:
    """The edge publishes its replies before the access layer publishes the requests they
    answer (within the late bound).  On time, only the lone replies are unanswered: below
    unsolicited_reply's ten with 3 of them, an alert with 12.  Judged when they came, the
    answered replies counted as unanswered too and made a finding that stayed; judged once no
    request can come within the late bound, the final alerts are the on-time ones, whichever
    sensor's records come first."""
    access, edge = _split_pings(answered, lone)
    on_time, _ = run(by_time(access + edge), settings)
    expected = "unsolicited_reply" in {d["rule_id"] for d in on_time.values()}
    assert expected == (lone >= 10)
    for arrival in (edge + access, access + edge):
        late, engine = run(arrival, settings)
        assert _final(late) == _final(on_time)
        assert engine.stats.replies_unanswered == lone
    late, engine = run(edge + access, settings)
    assert engine.stats.late_pairings == answered


def test_any_interleaving_of_two_sensors_gives_the_on_time_alerts() -> None:
    """Each sensor's records in its own capture order, the two interleaved at random (a sensor
    now ahead, now behind, within the late bound): the final versions are the on-time ones."""
    access, edge = _split_pings(12, 12)
    settings = Settings(processor={"several_sensors": True})
    on_time, _ = run(by_time(access + edge), settings)
    assert "unsolicited_reply" in {d["rule_id"] for d in on_time.values()}
    rng = random.Random(1313)
    for _ in range(20):
        picks = [0] * len(access) + [1] * len(edge)
        rng.shuffle(picks)
        queues = [iter(access), iter(edge)]
        late, _ = run([next(queues[p]) for p in picks], settings)
        assert _final(late) == _final(on_time)


def test_unanswered_replies_are_judged_once_the_late_bound_has_passed() -> None:
    """unsolicited_reply's findings come when the host's own time has passed the replies by
    sensor_late_bound_s (no request can come for them then), before the input ends."""
    access, edge = _split_pings(0, 12)
    host = "10.50.0.9"
    engine = Engine()
    for record in by_time(access + edge):
        engine.process(record)
    later = [request(host, "8.8.8.8", at(t), icmp_id=1, seq=n, payload_class="windows",
                     ttl=127, sensor=ACCESS) for n, t in enumerate((200, 306.6, 307))]
    engine.process(later[0])  # the replies (at 1.25 s to 6.75 s) are within the bound
    assert engine.stats.rule_counts.get("unsolicited_reply") is None
    engine.process(later[1])  # past the first 11
    assert engine.stats.replies_unanswered == 11 and engine.stats.rule_counts[
        "unsolicited_reply"] == 2
    engine.process(later[2])
    assert engine.stats.replies_unanswered == 12 and engine.stats.rule_counts[
        "unsolicited_reply"] == 3
    assert pairing.SCRATCH not in engine.hosts[host].scratch


def _tunnel_halves(exchanges: int = 16) -> tuple[list[dict], list[dict]]:
    """A channel seen in halves: the access layer captures the host's requests (the same 120
    bytes each time), the edge the replies, which carry other data (the same each time): only
    the share of replies that do not echo their request makes it a channel for icmp_tunnel."""
    host, peer = "10.70.0.5", "198.51.100.9"
    rng = random.Random(77)
    asks, answers = random_data(rng, 120, 120), random_data(rng, 120, 120)
    requests = [request(host, peer, at(1 + n), icmp_id=77, seq=n, ttl=64,
                        payload_class="unknown", data=asks, sensor=ACCESS)
                for n in range(exchanges)]
    replies = [reply_to(r, sensor=EDGE, data=answers, payload_class="unknown") for r in requests]
    return requests, replies


def _tunnel_alert(alerts: dict) -> tuple[int, str]:
    (doc,) = [d for d in alerts.values() if d["rule_id"] == "icmp_tunnel"]
    return doc["packet_count"], doc["summary"].split(": ", 1)[1]


def test_icmp_tunnel_counts_a_reply_paired_late_as_on_time() -> None:
    """Each reply reaches the engine just before its request (the edge's records a moment
    ahead of the access layer's): counted as unpaired when it came, the reply is compared
    with its request when the request comes, so icmp_tunnel's share of replies that do not
    echo their request is the on-time one (16 of 16), and it finds the channel as on time:
    the same packets and signal."""
    requests, replies = _tunnel_halves()
    on_time, _ = run(by_time(requests + replies))
    assert _tunnel_alert(on_time) == (13, "20 data-carrying echoes, 2400 bytes in 60 s;"
                                          " 10 of 10 replies do not echo their request")
    edge_ahead = [r for pair in zip(replies, requests) for r in pair]
    late, engine = run(edge_ahead)
    assert engine.stats.late_pairings == len(replies)
    assert _tunnel_alert(late) == _tunnel_alert(on_time)
    assert counts(late) == counts(on_time)
    # the edge a whole exchange ahead: all replies first; the channel is found all the same
    # (which packets carry the findings follows the arrival order)
    late, _ = run(replies + requests)
    assert "icmp_tunnel" in {d["rule_id"] for d in late.values()}


def test_icmp_tunnels_long_horizon_counts_a_reply_paired_late_as_on_time() -> None:
    """A slow channel (an exchange every 4 s for 8 minutes, 8 bytes each way: never enough
    data for one 60-s window) that only the long horizon finds, by its replies carrying other
    data than the requests; each reply reaches the engine just before its request.  The same
    packets carry findings; the first finding's share may differ by the one reply still
    waiting for its request when it was judged."""
    host, peer = "10.70.0.6", "198.51.100.10"
    rng = random.Random(78)
    asks, answers = random_data(rng, 8, 8), random_data(rng, 8, 8)
    requests = [request(host, peer, at(1 + 4 * n), icmp_id=78, seq=n, ttl=64,
                        payload_class="unknown", data=asks, sensor=ACCESS) for n in range(120)]
    replies = [reply_to(r, sensor=EDGE, data=answers, payload_class="unknown") for r in requests]
    on_time, _ = run(by_time(requests + replies))
    count, signal = _tunnel_alert(on_time)
    assert "100% of replies carry other data than their request" in signal
    late, _ = run([r for pair in zip(replies, requests) for r in pair])
    late_count, late_signal = _tunnel_alert(late)
    assert late_count == count
    assert late_signal.split(": ")[0] == signal.split(": ")[0]
    assert late_signal.endswith("% of replies carry other data than their request")


def test_another_sensors_copy_does_not_count_towards_promotion() -> None:
    """A host leaves probation (processors/state/admission.py) after PROMOTE_AFTER packets of
    its own; each packet once, however many sensors captured it."""
    host = "10.20.7.7"
    first = request(host, "198.51.100.9", at(1.0), icmp_id=7, seq=1, ttl=64,
                    payload_class="linux_iputils")
    second = request(host, "198.51.100.9", at(2.0), icmp_id=7, seq=2, ttl=64,
                     payload_class="linux_iputils")
    engine = Engine()
    for record in by_time([first, second] + further_out([first, second])):
        engine.process(record)
        if record is first or record["sensor_id"] == EDGE and record["icmp_seq"] == 1:
            # one packet so far, captured by one sensor, then by both
            assert engine.admission.is_probationary(host)
    assert not engine.admission.is_probationary(host)  # its second packet
    assert sum(engine.stats.copies.values()) == 2
