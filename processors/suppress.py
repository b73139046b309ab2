"""Suppressions and allowlists from ``Settings.suppressions``.

Each entry names a reason and any of: a rule, the host's CIDR (``src_cidr``: the echo
initiator), the peer's CIDR (``dst_cidr``: a request's target or a reply's sender), a payload
class, the initial TTL the packet left the host with (``initial_ttl``: the arriving TTL plus the
host's hop distance; when the distance is not known, any arriving TTL at most UNKNOWN_HOPS
below it), and an expiry.  All given conditions must hold.  An allowlist is a suppression without an
expiry.  Expiry is compared with the finding's capture time, not the clock, so replaying an old
capture applies the suppressions that were in force for it.

Nothing is dropped silently: the engine counts every suppressed finding under its reason, and
counts findings that *would* have been suppressed by an expired entry, so a stale allowlist shows.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterable

from oddping.config import ConfigError, Suppression

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: hops a packet may have crossed when an initial_ttl entry meets a host of unknown distance
UNKNOWN_HOPS = 16


@lru_cache(maxsize=65536)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def expiry_ns(text: str) -> int:
    """ISO 8601 date or date-time to ns since the epoch (UTC when no zone is given).

    A bare date means "through that day": the entry stops applying at the next midnight UTC.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1), time(0), timezone.utc)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(f"suppression expiry {text!r} is not an ISO 8601 date or time") from None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass(frozen=True, slots=True)
class ActiveSuppression:
    reason: str
    rule: str | None
    src_net: IpNetwork | None
    dst_net: IpNetwork | None
    payload_class: str | None
    expires_ns: int | None
    initial_ttl: int | None = None

    def matches(self, rule_id: str, host_ip: str, peer_ip: str, payload_class: str,
                ttl: int | None = None, implied_ttl: int | None = None) -> bool:
        return (
            (self.rule is None or self.rule == rule_id)
            and (self.payload_class is None or self.payload_class == payload_class)
            and (self.initial_ttl is None or self._ttl_matches(ttl, implied_ttl))
            and (self.src_net is None or _ip(host_ip) in self.src_net)
            and (self.dst_net is None or _ip(peer_ip) in self.dst_net)
        )


    def _ttl_matches(self, ttl: int | None, implied_ttl: int | None) -> bool:
        if implied_ttl is not None:
            return implied_ttl == self.initial_ttl
        return ttl is not None and 0 <= self.initial_ttl - ttl <= UNKNOWN_HOPS


def _network(text: str | None, where: str) -> IpNetwork | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"suppression {where} {text!r} is not a CIDR") from None


class Suppressions:
    def __init__(self, entries: Iterable[Suppression], rule_ids: Iterable[str]) -> None:
        known = set(rule_ids)
        self.entries: list[ActiveSuppression] = []
        for entry in entries:
            if entry.rule is not None and entry.rule not in known:
                raise ConfigError(
                    f"suppression {entry.reason!r} names unknown rule {entry.rule!r}"
                    f" (known: {', '.join(sorted(known))})"
                )
            self.entries.append(
                ActiveSuppression(
                    reason=entry.reason,
                    rule=entry.rule,
                    src_net=_network(entry.src_cidr, "src_cidr"),
                    dst_net=_network(entry.dst_cidr, "dst_cidr"),
                    payload_class=entry.payload_class,
                    expires_ns=None if entry.expires is None else expiry_ns(entry.expires),
                    initial_ttl=entry.initial_ttl,
                )
            )
        #: some entry needs the packet's initial TTL (the engine works it out only then)
        self.by_ttl = any(e.initial_ttl is not None for e in self.entries)

    def check(
        self, rule_id: str, host_ip: str, peer_ip: str, payload_class: str, ts_ns: int,
        ttl: int | None = None, implied_ttl: int | None = None,
    ) -> tuple[str, bool] | None:
        """(reason, expired) of the first entry that matches, or None.

        expired=False: the finding is suppressed.  expired=True: only an expired entry matched,
        so the finding goes through and the engine counts the stale entry.
        """
        stale: str | None = None
        for entry in self.entries:
            if entry.matches(rule_id, host_ip, peer_ip, payload_class, ttl, implied_ttl):
                if entry.expires_ns is None or ts_ns < entry.expires_ns:
                    return entry.reason, False
                stale = stale or entry.reason
        return None if stale is None else (stale, True)
