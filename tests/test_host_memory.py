"""A host's state stays small (issue 14): containers made when first written, short forms for
the common cases, and states saved in the earlier layouts still load and behave the same."""

from __future__ import annotations

import gc
import sys
from collections import deque

import orjson

from oddping.config import Settings
from processors.engine import Engine
from processors.state import dedup
from processors.state.host import EMPTY, HostState
from processors.state.once import SeenOnce
from tests.recordkit import at, by_time, flood, lone_replies, reply, request, syn, zoo

HOST, DST, OTHER = "10.9.0.5", "192.0.2.10", "192.0.2.11"


def _copy(record: dict, sensor: str) -> dict:
    """Another sensor's capture of the same packet, 2 ms later and one hop further."""
    return {**record, "sensor_id": sensor, "ts_ns": record["ts_ns"] + 2_000_000,
            "ttl": record["ttl"] - 1}


def test_a_one_packet_host_makes_only_the_containers_it_writes() -> None:
    engine = Engine()
    engine.process(request(HOST, DST, at(0), payload_class="windows", ttl=126))
    host = engine.hosts[HOST]
    # one sensor seen: no copy memory per host either (processors/state/dedup.py, Recent)
    for unused in (host.traceroute_ids, host.copies, host.copies_before, host.windows,
                   host.profiles):
        assert unused is EMPTY
    assert host.closed_slots == ()
    assert host.requests is not EMPTY
    assert host.scratch["ping_sweep"] == (DST, at(0))  # one destination: no tables


def test_a_second_destination_starts_ping_sweeps_tables() -> None:
    engine = Engine()
    engine.process(request(HOST, DST, at(0)))
    engine.process(request(HOST, DST, at(1), seq=2))
    engine.process(request(HOST, OTHER, at(2), seq=3))
    assert engine.hosts[HOST].scratch["ping_sweep"] == {
        "recent": {DST: at(1), OTHER: at(2)},
        "long": {DST: at(1) // 1_000_000_000, OTHER: at(2) // 1_000_000_000},
    }


def _saved_with_packet(packet: dict, entry_tail: list) -> dict:
    """The host's exported state after packet, its copy memory holding that packet as a state
    saved by an engine that remembered packets per host with one sensor did."""
    engine = Engine()
    engine.process(packet)
    state = orjson.loads(orjson.dumps(engine.state_for(HOST)))
    key = list(dedup.packet_key(HOST, packet))
    state["copies"] = [[key, [packet["ts_ns"], packet["sensor_id"], packet.get("ip_id"),
                              packet["ttl"], *entry_tail]]]
    return state


def test_the_short_forms_survive_export_and_recognise_copies_after_loading() -> None:
    packet = request(HOST, DST, at(0), payload_class="windows", ttl=126)
    saved = _saved_with_packet(packet, [])  # the 4-field short form
    second = Engine()
    second.load_state(HOST, saved)
    assert second.state_for(HOST) == saved
    second.process(_copy(packet, "sensor-b"))
    assert second.stats.copies["sensor-b"] == 1  # the loaded 4-field entry still matches


def test_a_state_saved_in_the_earlier_layout_loads_and_behaves_the_same() -> None:
    packet = request(HOST, DST, at(0), payload_class="windows", ttl=126)
    # the layout before: 6-field packets, ping_sweep's two tables, empty containers as such
    state = _saved_with_packet(packet, [None, None])
    state["scratch"]["ping_sweep"] = {"recent": {DST: at(0)}, "long": {DST: at(0) // 10**9}}
    state["vantage"] = state["vantage"] or {}
    older = Engine()
    older.load_state(HOST, state)
    assert older.state_for(HOST) == state
    older.process(_copy(packet, "sensor-b"))
    assert older.stats.copies["sensor-b"] == 1
    older.process(request(HOST, OTHER, at(1), seq=2, payload_class="windows", ttl=126))
    assert older.hosts[HOST].scratch["ping_sweep"]["recent"] == {DST: at(0), OTHER: at(1)}


# -- a host seen with one record: one object (processors/state/once.py) ----------------------

def _own_objects(root: object) -> list[object]:
    """The objects only root's state holds: reachable from it, not shared (canonical strings,
    small ints, EMPTY, classes, the rules' ...), found by walking referents and slots."""
    from processors.state.host import _canonical

    shared = {id(EMPTY), *map(id, _canonical)}
    found, stack, seen = [], [root], set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in shared or isinstance(obj, (type, bool)) or obj is None:
            continue
        if type(obj) is int and -5 <= obj <= 256:
            continue
        seen.add(id(obj))
        found.append(obj)
        stack.extend(gc.get_referents(obj))
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                stack.append(getattr(obj, name))
    return found


def test_a_one_packet_host_is_one_object_without_tables() -> None:
    engine = Engine()
    record = request(HOST, DST, at(0), payload_class="windows", ttl=126)
    engine.process(record)
    host = engine.hosts[HOST]
    assert type(host) is SeenOnce
    own = _own_objects(host)
    # no dict, list or deque of its own (a HostState had five tables and three lists): the
    # host object, the record's strings and capture time it keeps, ping_sweep's tuple
    assert [type(o).__name__ for o in own if isinstance(o, (dict, list, deque))] == []
    assert sum(sys.getsizeof(o) for o in own) < 700  # a HostState's were ~1,900 bytes
    # the views a HostState's readers use
    assert host.requests[1][0].dst_ip == DST and host.vantage["sensor-a"][0][:3] == [128, 2, 1]
    assert host.scratch == {"ping_sweep": (DST, at(0))} and host.last_ns == at(0)


def test_the_second_record_brings_the_tables_back() -> None:
    engine = Engine()
    engine.process(request(HOST, DST, at(0), payload_class="windows", ttl=126))
    engine.process(request(HOST, DST, at(1), seq=2, payload_class="windows", ttl=126))
    host = engine.hosts[HOST]
    assert type(host) is HostState
    assert [seen.seq for seen in host.requests[1]] == [1, 2]
    assert host.vantage["sensor-a"][0][:3] == [128, 2, 2]


def _first_records() -> list[dict]:
    """One host's first record of each kind: an ordinary ping, an echo a rule alerts on, a
    reply nobody asked for (backscatter), a TCP SYN (host observation), IPv6."""
    return [
        request(HOST, DST, at(0), payload_class="windows", ttl=126),
        request(HOST, DST, at(0), data=b"", ttl=99),
        reply(DST, HOST, at(0), seq=7),
        syn(HOST, DST, at(0), ttl=61),
        request("2001:db8::5", "2001:db8::1", at(0), ttl=64),
    ]


def test_each_first_record_exports_and_loads_as_it_would_as_a_host_state() -> None:
    for record in _first_records():
        ip = record["initiator_ip"]
        engine = Engine(track_changes=True)
        engine.process(record)
        host = engine.hosts[ip]
        saved = engine.state_for(ip)
        # the export of either layout is the HostState's, byte for byte
        thawed = host.thaw() if type(host) is SeenOnce else host
        assert host.to_json() == thawed.to_json() == engine.take_changes()[ip]
        loaded = Engine()
        loaded.load_state(ip, saved)
        assert type(loaded.hosts[ip]) is type(host)
        assert loaded.state_for(ip) == saved
        # and the next record does the same with the loaded state as with the live one
        later = request(ip, DST if ":" not in ip else "2001:db8::1", at(2), seq=9, ttl=126)
        assert [a.doc for a in engine.process(later) + engine.flush()] == \
               [a.doc for a in loaded.process(later) + loaded.flush()]


def _crowd(hosts: int = 60) -> list[dict]:
    """One-packet hosts of every kind; every third sends a second record 30 s on, every fifth
    one after its state expired (host_idle_expiry_s, 900 s, later)."""
    records = []
    for n in range(hosts):
        ip = f"10.77.{n // 200}.{n % 200 + 1}"
        first = _first_records()[n % 4]
        first = {**first, "initiator_ip": ip, "ts_ns": at(n * 0.5),
                 **({"dst_ip": ip} if first["dst_ip"] == HOST else {"src_ip": ip})}
        records.append(first)
        for delay, when in ((30, n % 3 == 0), (1000, n % 5 == 0)):
            if when:
                records.append(request(ip, DST, at(n * 0.5 + delay), seq=2, ttl=126,
                                       payload_class="windows"))
    return records


def test_the_one_object_layout_changes_no_alert_and_no_state(monkeypatch) -> None:
    """The rules' zoo (every rule firing), backscatter, a flood and a crowd of one-packet hosts,
    with and without the one-object layout, in a table with room for all and in one that
    evicts: the same alert versions, the same exported states."""
    records = by_time(zoo() + lone_replies() + flood() + _crowd())
    compare(records, monkeypatch, Settings())
    compare(records, monkeypatch, Settings(processor={"max_tracked_hosts": 25}))


def compare(records: list[dict], monkeypatch, settings: Settings) -> None:
    import processors.engine

    def run() -> tuple[list, dict, dict, int]:
        engine = Engine(settings, track_changes=True)
        alerts, states, once = [], {}, set()
        for record in records:
            alerts += [a.doc for a in engine.process(record)]
            states.update(engine.take_changes())
            host = engine.hosts.get(record["initiator_ip"])
            if type(host) is SeenOnce:
                once.add(host.ip)
        alerts += [a.doc for a in engine.flush()]
        return alerts, states, engine.stats.as_dict(), len(once)

    alerts, states, stats, once = run()
    assert once >= 40 and len(alerts) > 100 and stats["hosts_expired"] >= 5
    if settings.processor.max_tracked_hosts < 100:
        assert stats["hosts_evicted"] > 10
    with monkeypatch.context() as patch:
        patch.setattr(processors.engine, "seen_once", lambda host: None)
        assert run() == (alerts, states, stats, 0)
