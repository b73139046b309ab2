"""Following traceroute runs (traceroute -I, mtr, tracert) per echo identifier, at the sensor.

A traceroute sends echo requests on one identifier whose TTL rises from 1, hop after hop, and
each probe that dies on the way draws a Time Exceeded from the router where it died.  At the
sensor, the first probes to get that far arrive with TTL 1 whatever the distance (the earlier
ones expired before reaching it), and each probe the sensor sees that dies further on draws a
Time Exceeded that comes back past it.  The tools differ in detail:

* tracert and Linux ``traceroute -I``: three probes per TTL, TTL 1, 1, 1, 2, 2, 2 ... up to the
  destination (the TTL never goes down);
* mtr: one probe per TTL per cycle, and cycle after cycle from TTL 1 again (the TTL falls back
  to the start, never to the middle).

So a run (``TracerouteMark``) starts when a request's TTL is one above the previous request's on
its identifier, or when a Time Exceeded quotes one of its requests, and follows the identifier:
a request at the TTL of the run's latest probe (tracert's three), one above it (the next hop) or
back at the start (mtr's next cycle) continues it; one that falls back into the middle (62, 63,
62 ...) or skips a hop is no traceroute, and the run is forgotten.  Requests far above the run
(an ordinary ping sharing Windows' identifier 1) are not part of it.  A run explains TTLs only
once confirmed (``TracerouteMark.confirmed``): it started low and stepped, and routers answered
it, or its probes all carried a traceroute tool's own data (which carries nothing else: nothing
to hide).
"""

from __future__ import annotations

import base64
import socket
import struct
from typing import Any

from processors.payloads import TRACEROUTE, describe
from processors.state.host import (
    TRACEROUTE_LOW_START,
    TRACEROUTE_MEMORY_NS,
    TRACEROUTE_STEP_GAP_NS,
    HostState,
    SeenRequest,
)

_ECHO_HEAD = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
#: IP version -> (the ICMP protocol / next header number, the echo request type)
_QUOTED_ECHO = {4: (1, 8), 6: (58, 128)}


def _tool_data(payload_class: str) -> bool:
    return describe(payload_class).family == TRACEROUTE


def track_request(host: HostState, record: dict[str, Any], previous: SeenRequest | None) -> None:
    """Follow the request's identifier as a possible traceroute run (see the module doc)."""
    icmp_id, ttl, ts = record["icmp_id"], record["ttl"], record["ts_ns"]
    marks = host.traceroute_ids
    mark = marks.get(icmp_id) if marks else None
    if mark is not None and ts - mark.last_ns > TRACEROUTE_MEMORY_NS:
        del marks[icmp_id]  # a run long over: this request starts afresh
        mark = None
    if mark is None:
        # the common case: a request on an identifier with no run costs one comparison
        if (
            previous is not None
            and ttl == previous.ttl + 1
            and 0 <= ts - previous.ts_ns <= TRACEROUTE_STEP_GAP_NS
        ):
            mark = host.mark_traceroute(icmp_id, previous.ts_ns, ts, ttl)
            mark.min_ttl = previous.ttl
            mark.other_data = not (
                _tool_data(previous.payload_class) and _tool_data(record["payload_class"])
            )
        return
    if ttl > mark.max_ttl + 1:
        return  # far above the run: another sender on the identifier, not a probe
    if not (mark.last_ttl <= ttl <= mark.last_ttl + 1 or ttl <= TRACEROUTE_LOW_START):
        del marks[icmp_id]  # back into the middle, or a hop skipped: no traceroute does that
        return
    mark.last_ttl = ttl
    if ttl > mark.max_ttl:
        mark.max_ttl = ttl
    if ttl < mark.min_ttl:
        mark.min_ttl = ttl
    if ts > mark.last_ns:
        mark.last_ns = ts
    if not mark.other_data and not _tool_data(record["payload_class"]):
        mark.other_data = True


def quoted_echo(host: HostState, record: dict[str, Any]) -> tuple[int, int] | None:
    """(identifier, sequence) of the host's echo request an ICMP error quotes, or None.

    The error's data is the original datagram's IP header (IPv4 with its options, IPv6's fixed
    40 bytes) and at least the first 8 bytes of the original ICMP message (RFC 792, 4443).
    """
    try:
        data = base64.b64decode(record["payload_b64"])
    except (ValueError, TypeError):
        return None
    if not data:
        return None
    version = data[0] >> 4
    quoted = _QUOTED_ECHO.get(version)
    if quoted is None:
        return None
    proto, echo_type = quoted
    if version == 4:
        start, next_proto, src = (data[0] & 0x0F) * 4, data[9:10], data[12:16]
    else:
        start, next_proto, src = 40, data[6:7], data[8:24]
    if len(data) < start + _ECHO_HEAD.size or next_proto != bytes((proto,)):
        return None
    try:
        if socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, src) != host.ip:
            return None
    except (OSError, ValueError):
        return None
    icmp_type, _code, _sum, icmp_id, seq = _ECHO_HEAD.unpack_from(data, start)
    return (icmp_id, seq) if icmp_type == echo_type else None


def track_time_exceeded(host: HostState, record: dict[str, Any]) -> None:
    """A router answered one of the host's remembered requests: its run drew a Time Exceeded."""
    quoted = quoted_echo(host, record)
    if quoted is None:
        return
    icmp_id, seq = quoted
    ring = host.requests.get(icmp_id)
    probe = next((seen for seen in reversed(ring) if seen.seq == seq), None) if ring else None
    if probe is None:
        return  # not a request the host was seen sending
    marks = host.traceroute_ids
    mark = marks.get(icmp_id)
    if mark is not None and record["ts_ns"] - mark.last_ns > TRACEROUTE_MEMORY_NS:
        del marks[icmp_id]
        mark = None
    if mark is None:
        mark = host.mark_traceroute(icmp_id, probe.ts_ns, probe.ts_ns, probe.ttl)
        mark.min_ttl, mark.time_exceeded, mark.last_ttl = probe.ttl, 0, probe.ttl
        mark.other_data = not _tool_data(probe.payload_class)
    mark.time_exceeded += 1
    if probe.ttl < mark.min_ttl:
        mark.min_ttl = probe.ttl
