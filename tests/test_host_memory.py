"""A host's state stays small (issue 14): containers made when first written, short forms for
the common cases, and states saved in the earlier layouts still load and behave the same."""

from __future__ import annotations

import orjson

from processors.engine import Engine
from processors.state import dedup
from processors.state.host import EMPTY
from tests.recordkit import at, request

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
