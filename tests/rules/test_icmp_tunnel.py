"""icmp_tunnel: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

import random

import pytest
from recordkit import (
    at,
    fired,
    ODD,
    ping_run,
    random_data,
    reply_to,
    request,
)


# -- icmp_tunnel ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload_class", ["ptunnel", "printable_text"])
def test_icmp_tunnel_magic_or_sustained_exchange(payload_class):
    if payload_class == "ptunnel":
        records = [request(ODD, "198.51.100.30", at(1), icmp_id=5, ttl=126, payload_class="ptunnel")]
    else:  # no magic: changing, varying data both ways, replies that are not echoes
        rng = random.Random(3)
        records = []
        for n in range(15):
            req = request(ODD, "198.51.100.30", at(1 + n), icmp_id=5, seq=n, ttl=126,
                          payload_class="unknown", data=random_data(rng, 64, 900))
            records += [req, reply_to(req, payload_class="unknown", data=random_data(rng, 64, 900))]
    [alert] = fired(records)[0]["icmp_tunnel"]
    assert alert.doc["details"]["signal"]


def test_icmp_tunnel_ignores_ordinary_pings_and_repeated_payloads():
    records = ping_run("10.20.5.30", "9.9.9.9", 0, 60, payload_class="linux_iputils", ttl=63,
                       icmp_id=4242)  # Linux ping's data changes every packet: still a ping
    records += ping_run(ODD, "198.51.100.30", 0, 60, payload_class="unknown", ttl=126, icmp_id=3)
    out, _ = fired(records)
    assert "icmp_tunnel" not in out


# -- icmp_tunnel's heuristics one at a time, just below and just above their thresholds --------
# Requests only unless replies are the point, to one peer within one 60-s window; each case
# keeps the other heuristics far from firing (repeated payloads, one size, honest replies).

TUNNEL_HOST, TUNNEL_PEER = "10.20.3.3", "198.51.100.33"


def _tunnel_requests(payloads, start_s=1.0):
    return [request(TUNNEL_HOST, TUNNEL_PEER, at(start_s + n * 2), icmp_id=0x0707, seq=n, ttl=64,
                    data=data) for n, data in enumerate(payloads)]


def _tunnel_fired(records, **tunables):
    return "icmp_tunnel" in fired(records, {"icmp_tunnel": tunables} if tunables else None)[0]


def _blob(n: int, size: int = 120) -> bytes:
    return random.Random(n).randbytes(size)


@pytest.mark.parametrize("count, fires", [(19, False), (20, True)])
def test_icmp_tunnel_min_packets(count, fires):
    records = _tunnel_requests([_blob(n) for n in range(count)])  # all distinct, 120 bytes
    assert _tunnel_fired(records) is fires


@pytest.mark.parametrize("last, fires", [(109, False), (110, True)])  # 19 x 102 + last: 2047 / 2048
def test_icmp_tunnel_min_bytes(last, fires):
    records = _tunnel_requests([_blob(n, 102) for n in range(19)] + [_blob(99, last)])
    assert _tunnel_fired(records) is fires


@pytest.mark.parametrize("distinct, fires", [(9, False), (10, True)])  # of 20: 0.45 / 0.5
def test_icmp_tunnel_min_distinct_ratio(distinct, fires):
    payloads = [_blob(n) for n in range(distinct)] + [_blob(0)] * (20 - distinct)
    assert _tunnel_fired(_tunnel_requests(payloads)) is fires


@pytest.mark.parametrize("other, fires", [(131, False), (132, True)])  # stdev 15.5 / 16.0
def test_icmp_tunnel_min_size_stdev(other, fires):
    a, b = _blob(1, 100), _blob(2, other)
    assert _tunnel_fired(_tunnel_requests([a, b] * 10)) is fires


@pytest.mark.parametrize("mismatched, fires", [(2, False), (3, True)])  # of 12 replies: 0.17 / 0.25
def test_icmp_tunnel_min_mismatch_ratio(mismatched, fires):
    same, other = _blob(1, 100), _blob(2, 100)
    records = []
    for req in _tunnel_requests([same] * 12):
        last = req["icmp_seq"] >= 12 - mismatched  # the mismatches come last: judged at the end
        records += [req, reply_to(req, data=other if last else same)]
    assert _tunnel_fired(records) is fires


def test_icmp_tunnel_a_late_packet_of_an_earlier_window_leaves_the_current_one_whole():
    """Another sensor's packet of the previous 60-s window, arriving while the peer's current
    window fills, used to start that old window afresh, and the next on-time packet the current
    one again: 20 packets in a window never added up to 20."""
    from processors import Engine

    on_time = _tunnel_requests([_blob(n) for n in range(20)], start_s=61.0)  # 61-99 s
    late = _tunnel_requests([_blob(99)], start_s=35.0)[0]
    window_ns = 60 * 10**9  # windows are aligned on the epoch: T0 + 40 s starts one
    assert late["ts_ns"] // window_ns < on_time[0]["ts_ns"] // window_ns == (
        on_time[-1]["ts_ns"] // window_ns)
    engine = Engine()
    alerts = []
    for record in on_time[:10] + [late] + on_time[10:]:
        alerts += engine.process(record)
    alerts += engine.flush()
    assert "icmp_tunnel" in {a.rule_id for a in alerts}
    assert engine.stats.out_of_order == 1
