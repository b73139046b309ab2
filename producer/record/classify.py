"""Name the sender of echo data by walking the signature table (payload_signatures.py).

``ts_ns`` is the capture time: senders that write their send time into the data (iputils, BSD
ping) are named only when it fits; otherwise the walk goes on, and data no later row names is
``ping_imitation``.  The time is checked only after a row's layout matched, so other data costs
nothing more.
"""

from __future__ import annotations

from .payload_signatures import IMITATION, SIGNATURES, UNKNOWN

# Rows that look at the identifier or sequence cannot be cached by payload alone.
_CONTEXT_ROWS = tuple(s for s in SIGNATURES if s.icmp_id is not None or s.icmp_seq is not None)
_CONTEXT_LENGTHS = frozenset({0, 4, 20, 120, 150})
_PLAIN_ROWS = tuple(s for s in SIGNATURES if s.icmp_id is None and s.icmp_seq is None)
_CACHE_MAX = 65536
_CACHEABLE_LEN = 64

# Senders whose data carries a timestamp: every payload differs, caching them only churns.
# (The class of an imitation depends on the capture time too: never cached.)
_TIMESTAMPED = frozenset({"linux_iputils", "bsd", "busybox", IMITATION})

_cache: dict[bytes, str] = {}


def classify_payload(
    data: bytes, icmp_id: int | None = None, icmp_seq: int | None = None, ts_ns: int | None = None
) -> str:
    if len(data) in _CONTEXT_LENGTHS:
        for sig in _CONTEXT_ROWS:
            if (
                (sig.icmp_id is None or sig.icmp_id == icmp_id)
                and (sig.icmp_seq is None or icmp_seq in sig.icmp_seq)
                and sig.matches(data)
            ):
                return sig.payload_class
    cacheable = len(data) <= _CACHEABLE_LEN
    if cacheable:
        hit = _cache.get(data)
        if hit is not None:
            return hit
    result = UNKNOWN
    for sig in _PLAIN_ROWS:
        if sig.matches(data):
            if sig.sent_time is not None and not sig.sent_time(data, ts_ns):
                result = IMITATION  # its layout without its send time: unless a later row
                continue  # names the data, an imitation
            result = sig.payload_class
            break
    if cacheable and result not in _TIMESTAMPED:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[data] = result
    return result
