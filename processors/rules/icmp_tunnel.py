"""icmp_tunnel: a sustained echo exchange that carries data.

Two ways in.  A tunnel's own magic is enough on one packet: ptunnel's ``D5 20 08 80``,
ptunnel-ng's ``DE AD C0 DE``, hans' "hanc"/"hans", pingtunnel's protobuf, icmptunnel's raw
IPv4 packet.  Without magic (custom or encrypted tunnels), the published heuristics, per peer and
per ``window_s`` of capture time: enough packets carrying enough data, and data that behaves
like a channel rather than a ping: payloads that change, sizes that vary, replies that do not
echo their requests.  Ordinary pings never count (Linux ping's timestamp changes every packet,
so "changing payload" alone would flag every Linux host).

A slow tunnel or reverse shell (a poll every few seconds, mostly empty) never fills one window,
so a second, long horizon keeps per-peer evidence that decays with a half-life of
``long_half_life_s`` (tunnel_horizon.py): a steady exchange whose request data is new and
random-looking each time, or whose replies carry other data than their requests, fires too.

A reply processed before its request (another sensor's records late: event
``reply_paired_late``, processors/state/pairing.py) is counted as a reply when it comes, and
whether it echoes its request when the request comes, in the window and the long horizon it
was counted in: once both are in, the shares are the on-time ones (the long horizon's up to
rounding).  Not re-judged: which packets carried findings in between (the alert's count and
evidence may then differ from on time), and a reply whose 60-s window the peer has left since
(a sensor that late is counted in the long horizon only).

Scratch state (``HostState.scratch["icmp_tunnel"]``): ``peers``, peer IP -> the current
window's :class:`PeerWindow` (exported as an array of its fields); at most ``PEERS`` peers, at
most ``HASHES`` hash prefixes each; ``long``, peer IP -> the long horizon's evidence list
(tunnel_horizon.py), at most ``PEERS`` peers with ``tunnel_horizon.RING`` hash prefixes each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from processors.findings import AlertWindow, peer_of
from processors.payloads import OS_PING, PING_TOOL, TRACEROUTE, TUNNEL, classes_of, describe
from processors.ruleskit import phrases
from processors.ruleskit import tunnel_horizon as horizon
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import PayloadClassList
from processors.state.host import HostState, SeenRequest
from processors.state.packed import Packed

PEERS = 8
HASHES = 64

METADATA = RuleMetadata(
    id="icmp_tunnel",
    title="ICMP tunnel",
    description=(
        "Echo traffic between the host and a peer carries a tunnel tool's magic, or is a"
        " sustained data exchange: changing payloads, varying sizes, replies that do not echo"
        " their requests."
    ),
    severity="high",
    attack=("T1572", "T1095", "T1048.003"),
    false_positives=(
        "Monitoring tools that put timestamps or counters in large custom payloads.",
        "Sanctioned ICMP tunnels (rare; suppress by src_cidr with a reason).",
    ),
    references=(
        Reference("ptunnel, ptunnel-ng, hans, pingtunnel, icmptunnel source code (magics)"),
        Reference("MITRE ATT&CK T1572", "https://attack.mitre.org/techniques/T1572/"),
        Reference("MITRE ATT&CK T1095", "https://attack.mitre.org/techniques/T1095/"),
    ),
    triage=(
        "Look at the payloads: a magic names the tool; text or compressed data is a channel.",
        "Who is the peer? Tunnels end at an internet host the organisation does not own.",
        "Isolate the host if the peer is unknown and the exchange is sustained.",
    ),
    status="test",
    rev=1,
    data_requirements=(
        "Echo requests' data (payload_sha256, payload_len) per peer, and their replies for "
        "the mismatch heuristic.",
    ),
    response=(
        "Isolate the host and block the peer: a tunnel carries arbitrary traffic.",
        "Find the tunnelling tool on the host and how it got there.",
    ),
)

EXAMPLES = (
    fires("ptunnel's magic in an echo request", "ptunnel_echo"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)



@dataclass(slots=True)
class PeerWindow(Packed):
    """What one peer exchanged with the host in the current window of ``window_s``."""

    start_ns: int
    packets: int = 0
    #: data bytes, and the sum of their squares (for the size's standard deviation)
    bytes: int = 0
    size_sq_sum: int = 0
    replies: int = 0
    mismatched_replies: int = 0
    #: packets whose payload hash prefix was looked at (the first HASHES)
    hashed: int = 0
    hashes: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, row: list[Any]) -> PeerWindow:
        if len(row) == 9:  # before the type: a size_sum at [3] that always equalled bytes
            row = row[:3] + row[4:]
        return cls(*row)


class Tunables(RuleTunables):
    tunnel_classes: PayloadClassList = Field(
        default_factory=lambda: classes_of(TUNNEL),
        description="payload classes that are a tunnel's own magic: one packet fires",
    )
    ordinary_payload_classes: PayloadClassList = Field(
        default_factory=lambda: classes_of(OS_PING, PING_TOOL, TRACEROUTE),
        description="payloads of ordinary pings, never counted by the heuristics",
    )
    window_s: float = Field(60.0, gt=0, description="heuristics judge each peer per window of this many seconds")
    min_packets: int = Field(
        20, ge=2, description="data-carrying echoes with one peer in a window before judging"
    )
    min_bytes: int = Field(2048, ge=0, description="echo data bytes with that peer in the window")
    min_distinct_ratio: float = Field(
        0.5, ge=0, le=1, description="share of distinct payloads that counts as changing data"
    )
    min_size_stdev: float = Field(
        16.0, ge=0, description="standard deviation of data sizes (bytes) that counts as varying"
    )
    min_mismatch_ratio: float = Field(
        0.25, ge=0, le=1, description="share of replies whose data differs from their request"
    )
    long_half_life_s: float = Field(
        600.0, gt=0, description="the long horizon: a peer's evidence loses half its weight in"
        " this many seconds of capture time"
    )
    long_min_packets: float = Field(
        60.0, ge=1, description="the long horizon judges a peer once its decayed packet count"
        " (polls and replies included) reaches this: a poll every 14 s or faster"
    )
    long_min_span_s: float = Field(
        300.0, ge=0, description="... and the exchange has lasted this many seconds"
    )
    long_min_random_ratio: float = Field(
        0.5, ge=0, le=1, description="share of the peer's request data that looks random"
        " (byte diversity of encrypted or compressed data) which, with min_distinct_ratio of"
        " new payloads, makes a channel; otherwise min_mismatch_ratio of replies does"
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.tunnel = frozenset(tunables.tunnel_classes)
        #: tunnel class -> its finding's signal (a tunnel sends thousands of packets)
        self.magic_signals = {
            name: f"{describe(name).sender} magic in the data" for name in self.tunnel
        }
        self.ordinary = frozenset(tunables.ordinary_payload_classes)
        self.window_ns = int(tunables.window_s * 1e9)
        self.long_half_life_s = tunables.long_half_life_s

    def fires_on(self, payload_class: str) -> bool:
        # Ordinary pings are never counted (see _judge), unless the class is also a tunnel's.
        return payload_class in self.tunnel or payload_class not in self.ordinary

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        return self._judge(host, record, None, is_reply=False)

    def on_echo_reply(self, host: HostState, record: dict[str, Any], request: SeenRequest | None):
        return self._judge(host, record, request, is_reply=True)

    def on_reply_paired_late(self, host: HostState, record: dict[str, Any],
                             request: SeenRequest):
        """A reply counted as unpaired when it came: count now whether it echoes its request,
        where it was counted (its window, if the peer is still in it, and the long horizon)."""
        payload_class = record["payload_class"]
        if payload_class in self.magic_signals or payload_class in self.ordinary:
            return NOTHING  # judged without its request on time too
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            return NOTHING
        peer = peer_of(host.ip, record)
        ts = record["ts_ns"]
        evidence = (scratch.get("long") or {}).get(peer)
        if evidence is not None and _differs(record, request):
            if type(evidence) is not horizon.Evidence:  # as loaded
                evidence = scratch["long"][peer] = horizon.Evidence.from_json(evidence)
            horizon.add_late_mismatch(evidence, ts / 1e9, self.long_half_life_s)
        peers = scratch.get("peers") or {}
        window = peers.get(peer)
        if (record["payload_len"] and window is not None
                and request.payload_sha256 != record["payload_sha256"]):
            window = PeerWindow.of(window)
            if window.start_ns == ts - ts % self.window_ns:
                window.mismatched_replies += 1
                peers[peer] = window
        return NOTHING

    def _judge(self, host: HostState, record: dict[str, Any], request, is_reply: bool):
        payload_class = record["payload_class"]
        magic_signal = self.magic_signals.get(payload_class)
        if magic_signal is not None:
            return self.finding(record, facts={"signal": magic_signal})
        if payload_class in self.ordinary:
            return NOTHING
        peer = peer_of(host.ip, record)
        long_signal = self._long_horizon(host, peer, record, request, is_reply)
        length = record["payload_len"]
        if length == 0:
            return self.finding(record, facts={"signal": long_signal}) if long_signal else NOTHING
        window = self._window(host, peer, record["ts_ns"])
        if window is None:  # a late packet of a window the peer has left: the long horizon's
            return self.finding(record, facts={"signal": long_signal}) if long_signal else NOTHING
        window.packets += 1
        window.bytes += length
        window.size_sq_sum += length * length
        if is_reply:
            window.replies += 1
            if request is not None and request.payload_sha256 != record["payload_sha256"]:
                window.mismatched_replies += 1
        hashes = window.hashes
        if len(hashes) < HASHES:
            window.hashed += 1
            prefix = record["payload_sha256"][:12]
            if prefix not in hashes:
                hashes.append(prefix)
        tunables = self.tunables
        signal = None
        if window.packets >= tunables.min_packets and window.bytes >= tunables.min_bytes:
            signal = self._channel_signal(window)
        signal = signal or long_signal
        if signal is None:
            return NOTHING  # too little exchanged with this peer yet, or nothing channel-like
        return self.finding(record, facts={"signal": signal})

    def _long_horizon(self, host: HostState, peer: str, record: dict[str, Any], request,
                      is_reply: bool) -> str | None:
        """Add the packet to the peer's decayed evidence (tunnel_horizon); its verdict."""
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            scratch = host.scratch[self.rule_id] = {"peers": {}}
        peers = scratch.get("long")
        if peers is None:
            peers = scratch["long"] = {}
        now_s = record["ts_ns"] / 1e9
        evidence = peers.get(peer)
        if evidence is not None and type(evidence) is not horizon.Evidence:  # as loaded
            evidence = peers[peer] = horizon.Evidence.from_json(evidence)
        if evidence is None:
            if len(peers) >= PEERS:
                del peers[next(iter(peers))]
            evidence = peers[peer] = horizon.new_evidence(now_s)
        elif next(reversed(peers)) != peer:
            peers[peer] = peers.pop(peer)  # re-inserted last: most recently used
        mismatched = is_reply and request is not None and _differs(record, request)
        horizon.add(evidence, record, now_s, self.long_half_life_s, is_reply, mismatched)
        return horizon.channel_signal(evidence, self.tunables)

    def _window(self, host: HostState, peer: str, ts: int) -> PeerWindow | None:
        """The peer's window of ts; None for a packet of an earlier window than the peer's
        current one (another sensor's, late): starting that window afresh would throw away the
        current one's counts, and the next on-time packet would throw away the late one's."""
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            scratch = host.scratch[self.rule_id] = {"peers": {}}
        peers = scratch["peers"]
        start = ts - ts % self.window_ns
        window = peers.pop(peer, None)
        if window is not None:
            window = PeerWindow.of(window)
            if start < window.start_ns:
                peers[peer] = window
                return None
        if window is None or window.start_ns != start:
            window = PeerWindow(start)
            if len(peers) >= PEERS:
                del peers[next(iter(peers))]
        peers[peer] = window  # re-inserted last: most recently used
        return window

    def _channel_signal(self, window: PeerWindow) -> str | None:
        """What makes a peer's exchange a channel, for one past min_packets and min_bytes."""
        t = self.tunables
        packets, total = window.packets, window.bytes
        size_sq_sum, replies, mismatched = (
            window.size_sq_sum, window.replies, window.mismatched_replies)
        reasons = []
        distinct = len(window.hashes) / window.hashed
        if distinct >= t.min_distinct_ratio:
            reasons.append(f"{distinct:.0%} of payloads distinct")
        mean = total / packets
        stdev = math.sqrt(max(size_sq_sum / packets - mean * mean, 0.0))
        if stdev >= t.min_size_stdev:
            reasons.append(f"sizes vary (stdev {stdev:.0f} bytes)")
        if replies and mismatched / replies >= t.min_mismatch_ratio:
            reasons.append(f"{mismatched} of {replies} replies do not echo their request")
        if not reasons:
            return None
        return f"{packets} data-carrying echoes, {total} bytes in {t.window_s:.0f} s; " + ", ".join(reasons)

    def summary(self, window: AlertWindow) -> str:
        return (
            f"{window.host} exchanged {phrases.plural(window.count, 'echo packet')} carrying"
            f" {phrases.sizes(window)} data ({', '.join(window.payload_classes)}) with"
            f" {', '.join(window.dst_ips[:3])}{'...' if len(window.dst_ips) > 3 else ''}"
            f" {phrases.duration(window)}: {window.facts.get('signal')}"
        )


def _differs(record: dict[str, Any], request: SeenRequest) -> bool:
    """Whether a reply carries other data than its request, judged only when both captures
    kept all of it (a snap length cuts hashes short; reply_mismatch says more)."""
    length = record["payload_len"]
    if length != request.payload_len:
        return True
    whole = record.get("payload_captured_len", length) == length and request.captured_len in (
        None, length)
    return whole and record["payload_sha256"] != request.payload_sha256
