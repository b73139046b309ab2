"""icmp_tunnel's long horizon: evidence per peer accumulated over many minutes, with decay.

A tunnel or reverse ICMP shell that polls every few seconds with small or empty payloads never
fills one 60-s window with enough data to judge.  Over a longer horizon it shows: a steady
exchange with one peer whose requests carry changing random-looking data, or whose replies
carry other data than the requests they answer.  Each counter decays by half every
``half_life_s`` of capture time, so old traffic fades instead of piling up, and a host costs a
fixed-size list per peer however long it talks.

Evidence per peer (in ``HostState.scratch["icmp_tunnel"]["long"]``): an :class:`Evidence`,
exported as the array ``[first_s, last_s, packets, data_requests, new_payloads,
random_payloads, replies, mismatched_replies, [payload hash prefixes of the last RING data
requests]]`` (processors/state/packed.py).

``packets`` counts polls (empty requests) and replies too: a shell's heartbeat is part of the
session.  What a monitoring probe sends is neither random-looking and changing nor answered
with other data, so it never qualifies, however long it runs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from processors.state.packed import Packed

#: counters are aged at most once per this many seconds: a burst's packets share one step (the
#: next step ages them by the whole time since; with a 10-min half-life they weigh <0.2 % more)
DECAY_STEP_S = 1.0
#: payload hash prefixes remembered per peer to tell a new payload from a repeated one
RING = 16
#: replies needed (decayed) before their share of mismatches means anything
MIN_REPLIES = 10.0
#: shortest data whose byte diversity is judged (fewer bytes say nothing about randomness)
MIN_RANDOM_LEN = 16
#: random-looking: at least this share of the distinct byte values random data of that length
#: would have (random data has about 0.95-1.0 of it; text and counters far less)
RANDOM_SHARE = 0.8
#: n -> distinct byte values expected in n random bytes (n up to the 256-byte preview)
_EXPECTED_DISTINCT = tuple(256 * (1 - (255 / 256) ** n) for n in range(257))



@dataclass(slots=True)
class Evidence(Packed):
    """One peer's decayed evidence: capture times in seconds, decayed counts."""

    first_s: float
    last_s: float
    packets: float = 0.0
    #: data-carrying requests, those with a payload not in the ring, those random-looking
    data: float = 0.0
    new: float = 0.0
    random: float = 0.0
    replies: float = 0.0
    mismatched: float = 0.0
    #: payload hash prefixes of the last RING data requests
    ring: list[str] = field(default_factory=list)

    def age(self, factor: float) -> None:
        self.packets *= factor
        self.data *= factor
        self.new *= factor
        self.random *= factor
        self.replies *= factor
        self.mismatched *= factor


def looks_random(record: dict[str, Any]) -> bool:
    """Whether the data's first bytes (the record's 256-byte preview) are as diverse as random
    bytes: encrypted or compressed data is, timestamps, counters, fills and text are not."""
    data = base64.b64decode(record["payload_b64"])
    if len(data) < MIN_RANDOM_LEN:
        return False
    return len(set(data)) >= RANDOM_SHARE * _EXPECTED_DISTINCT[len(data)]


def new_evidence(now_s: float) -> Evidence:
    return Evidence(now_s, now_s)


def add(evidence: Evidence, record: dict[str, Any], now_s: float, half_life_s: float,
        reply: bool, mismatched: bool) -> None:
    """Age the counters to now_s (capture time), then count the packet: a request (a poll when
    empty) or a reply (mismatched: carrying other data than its request)."""
    elapsed = now_s - evidence.last_s
    if elapsed >= DECAY_STEP_S:  # packets closer together share one aging step
        evidence.age(0.5 ** (elapsed / half_life_s))
        evidence.last_s = now_s
    evidence.packets += 1
    if reply:
        evidence.replies += 1
        if mismatched:
            evidence.mismatched += 1
        return
    if record["payload_len"] == 0:
        return  # a poll: part of the session, no data to judge
    evidence.data += 1
    prefix = record["payload_sha256"][:12]
    ring = evidence.ring
    if prefix not in ring:
        evidence.new += 1
        ring.append(prefix)
        if len(ring) > RING:
            del ring[0]
    if looks_random(record):
        evidence.random += 1


def add_late_mismatch(evidence: Evidence, reply_s: float, half_life_s: float) -> None:
    """A reply counted before its request came (another sensor's, late) carries other data
    than the request: count the mismatch with the weight it would have now had it been known
    when the reply was counted."""
    elapsed = evidence.last_s - reply_s
    evidence.mismatched += 0.5 ** (elapsed / half_life_s) if elapsed > 0 else 1.0


def channel_signal(evidence: Evidence, t: Any) -> str | None:
    """The long horizon's verdict on a peer: what makes its exchange a channel, or None.

    ``t`` holds the tunables: long_min_packets, long_min_span_s, long_min_random_ratio,
    min_distinct_ratio, min_mismatch_ratio.
    """
    packets = evidence.packets
    span = evidence.last_s - evidence.first_s
    if packets < t.long_min_packets or span < t.long_min_span_s:
        return None
    reasons = []
    data = evidence.data
    if data >= 1:
        changing, random = evidence.new / data, evidence.random / data
        if changing >= t.min_distinct_ratio and random >= t.long_min_random_ratio:
            reasons.append(f"{random:.0%} of request data random-looking, {changing:.0%} new")
    replies = evidence.replies
    if replies >= MIN_REPLIES and evidence.mismatched / replies >= t.min_mismatch_ratio:
        reasons.append(f"{evidence.mismatched / replies:.0%} of replies carry other data than"
                       " their request")
    if not reasons:
        return None
    return (
        f"a sustained exchange over {span / 60:.0f} min (weight {packets:.0f} packets,"
        f" half-life {t.long_half_life_s / 60:.0f} min): " + ", ".join(reasons)
    )
