"""Per-rule state is typed (processors/state/packed.py) and exports as compact arrays; an
exported state, and one exported before the types (icmp_tunnel's 9-counter lists), loads and
goes on counting."""

from __future__ import annotations

import orjson
from recordkit import at, request

from oddping.config import Settings
from processors.engine import Engine
from processors.rules.icmp_flood import SourceRate
from processors.rules.icmp_tunnel import PeerWindow
from processors.state.host import HostState

HOST, PEER = "10.20.3.3", "198.51.100.33"


def _tunnel_requests(n: int, start_s: float = 1.0) -> list[dict]:
    return [request(HOST, PEER, at(start_s + k), icmp_id=7, seq=k, ttl=64,
                    data=bytes([k]) * 100) for k in range(n)]


def test_exported_state_is_arrays_and_loads_back_typed() -> None:
    state = HostState(HOST, 4, at(0), at(0))
    state.scratch["icmp_tunnel"] = {"peers": {PEER: PeerWindow(at(0), 3, 300, 30000, 1, 1, 3,
                                                               ["aa", "bb"])}}
    state.scratch["icmp_flood"] = SourceRate(1_700_000_000, 5, 9)
    exported = orjson.loads(state.to_json())
    assert exported["scratch"]["icmp_tunnel"]["peers"][PEER] == [at(0), 3, 300, 30000, 1, 1, 3,
                                                                 ["aa", "bb"]]
    assert exported["scratch"]["icmp_flood"] == [1_700_000_000, 5, 9]
    loaded = HostState.from_dict(exported)
    window = PeerWindow.of(loaded.scratch["icmp_tunnel"]["peers"][PEER])
    assert (window.packets, window.bytes, window.hashes) == (3, 300, ["aa", "bb"])
    assert SourceRate.of(loaded.scratch["icmp_flood"]).peak == 9


def test_the_layout_before_the_types_loads() -> None:
    old = [at(0), 3, 300, 300, 30000, 1, 1, 3, ["aa"]]  # size_sum at [3] == bytes
    window = PeerWindow.from_json(old)
    assert (window.start_ns, window.packets, window.bytes, window.size_sq_sum,
            window.replies, window.mismatched_replies, window.hashed, window.hashes) == (
        at(0), 3, 300, 30000, 1, 1, 3, ["aa"])


def test_a_restored_engine_goes_on_counting_where_it_stopped() -> None:
    """Exporting after 10 data-carrying requests and loading the state into a fresh engine
    keeps the first 10 in the peer's window."""
    records = _tunnel_requests(20)
    first = Engine(Settings())
    for r in records[:10]:
        first.process(r)
    exported = first.state_for(HOST)
    second = Engine(Settings())
    second.load_state(HOST, exported)
    for r in records[10:]:
        second.process(r)
    assert second.state_for(HOST)["scratch"]["icmp_tunnel"]["peers"][PEER][1] == 20


def test_the_long_horizon_exports_its_old_layout_and_loads_it() -> None:
    """tunnel_horizon's Evidence kept the array it always was: states from before load."""
    from processors.ruleskit.tunnel_horizon import Evidence

    old = [10.0, 70.0, 5.5, 3.0, 2.0, 1.0, 2.5, 1.5, ["aa", "bb"]]
    evidence = Evidence.from_json(old)
    assert (evidence.first_s, evidence.last_s, evidence.packets, evidence.mismatched,
            evidence.ring) == (10.0, 70.0, 5.5, 1.5, ["aa", "bb"])
    assert orjson.loads(orjson.dumps(evidence, default=lambda v: v.to_json(),
                                     option=orjson.OPT_PASSTHROUGH_DATACLASS)) == old
    evidence.age(0.5)
    assert (evidence.packets, evidence.data, evidence.ring) == (2.75, 1.5, ["aa", "bb"])
