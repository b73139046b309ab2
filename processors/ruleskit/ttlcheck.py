"""TTL judgements shared by the TTL-aware rules (ttl_deviation, os_ttl_mismatch, multi_destination_sequence)."""

from __future__ import annotations

from typing import Annotated, Iterable

from pydantic import AfterValidator

from processors.payloads import PAYLOAD_CLASSES
from processors.state import vantage
from processors.state.host import HostState, TtlProfile


def _known_classes(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in PAYLOAD_CLASSES]
    if unknown:
        raise ValueError(f"unknown payload class {unknown[0]!r} (see oddping/payload_classes.py)")
    return names


#: A tunable listing payload classes; a typo is a config error, not a silently dead filter.
PayloadClassList = Annotated[list[str], AfterValidator(_known_classes)]


def profile_of(host: HostState, sensor_id: str | None) -> TtlProfile | None:
    """The profile a packet is judged against: its own sensor's (processors/state/vantage.py).
    sensor_id None: the record being processed (the engine set host.profile for it)."""
    return host.profile if sensor_id is None else vantage.profile_for(host, sensor_id)


def implied_initial_ttl(host: HostState, ttl: int, sensor_id: str | None = None) -> int | None:
    """The initial TTL a packet left the host with, from the hop distance its sensor learned."""
    profile = profile_of(host, sensor_id)
    return None if profile is None else ttl + profile.hop_distance


def within_tolerance(candidates: Iterable[int], tolerance: int) -> frozenset[int]:
    """Every value within tolerance of a candidate: the hot path does one set lookup."""
    return frozenset(c + d for c in candidates for d in range(-tolerance, tolerance + 1))


class OsTtlTable:
    """Whether a payload's OS could have sent a TTL, as lookups: per payload class that proves
    an OS (``PayloadClass.proves_os``), the TTLs its OS can arrive with (hop distance unknown:
    within max_hops below its initial TTL) and the initial TTLs it can imply (hop distance
    known: within hop_tolerance).  A tool's data (fping) proves no OS and accuses no TTL."""

    def __init__(self, max_hops: int, hop_tolerance: int) -> None:
        self.arriving: dict[str, frozenset[int]] = {}
        self.implied: dict[str, frozenset[int]] = {}
        for name, row in PAYLOAD_CLASSES.items():
            if row.proves_os:
                self.arriving[name] = frozenset(
                    ttl for i in row.initial_ttls for ttl in range(max(0, i - max_hops), i + 1)
                )
                self.implied[name] = within_tolerance(row.initial_ttls, hop_tolerance)

    def names_os(self, payload_class: str) -> bool:
        """Whether the payload class names an OS (fits() is None for every other class)."""
        return payload_class in self.arriving

    def fits(
        self, host: HostState, ttl: int, payload_class: str, sensor_id: str | None = None
    ) -> bool | None:
        """Whether the OS the payload names could have sent this TTL; None: it names no OS.
        With several stacks behind the address (NAT), any of their hop distances will do."""
        profile = profile_of(host, sensor_id)
        if profile is None:
            arriving = self.arriving.get(payload_class)
            return None if arriving is None else ttl in arriving
        implied = self.implied.get(payload_class)
        if implied is None:
            return None
        if ttl + profile.hop_distance in implied:
            return True
        return any(ttl + hops in implied for _, hops in profile.stacks)
