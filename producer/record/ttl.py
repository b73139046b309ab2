"""Initial TTL and hop distance, p0f style: round the observed TTL up to a common initial value."""

from __future__ import annotations

# Nearly every IP stack starts at one of these (field guide: 32 old Windows, 64 Unix, 128 Windows,
# 255 network gear).
COMMON_INITIAL_TTLS = (32, 64, 128, 255)

_INITIAL_FOR_TTL = tuple(next(i for i in COMMON_INITIAL_TTLS if i >= ttl) for ttl in range(256))


def initial_ttl_guess(ttl: int) -> int:
    return _INITIAL_FOR_TTL[ttl]


def hop_distance_guess(ttl: int) -> int:
    return _INITIAL_FOR_TTL[ttl] - ttl
