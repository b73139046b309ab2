"""Initial TTL and hop distance, p0f style: an observed TTL is taken to start at the next common
initial value.  One implementation for the producer (a record's initial_ttl_guess and
hop_distance_guess) and the rules (os_ttl_mismatch's implied initial TTL)."""

from __future__ import annotations

#: The p0f rounding ladder: nearly every IP stack starts at one of these (field guide: 32 old
#: Windows, 64 Unix, 128 Windows, 255 network gear).
COMMON_INITIAL_TTLS: tuple[int, ...] = (32, 64, 128, 255)

_INITIAL_FOR_TTL = tuple(next(i for i in COMMON_INITIAL_TTLS if i >= ttl) for ttl in range(256))


def initial_ttl_guess(ttl: int) -> int:
    """Round an observed TTL (0-255) up to the next common initial TTL, as p0f does."""
    return _INITIAL_FOR_TTL[ttl]


def hop_distance_guess(ttl: int) -> int:
    """Hops from the sender, if it started at initial_ttl_guess(ttl)."""
    return _INITIAL_FOR_TTL[ttl] - ttl
