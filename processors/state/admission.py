"""Which host to evict when the engine tracks ``max_tracked_hosts``: established hosts first kept.

A wave of spoofed sources (``hping3 --flood --rand-source``) brings a new address with every
packet.  Plain LRU would let such a wave push every real host's learned state out of the table
(TTL profiles, request rings, open alert windows) within a second.  So the table is split the
way 2Q and segmented LRU split a cache:

* **probation**: every new host starts here.  Probation is first in, first out: the host
  admitted longest ago is the first to go.
* **protected**: a host that has sent ``PROMOTE_AFTER`` records of its own (echo requests, TCP
  SYN observations: not replies addressed to it, which a flood's victim sends to every spoofed
  source) moves here for good.

When the table is full the oldest probationary host makes room, as long as probation holds at
least ``PROBATION_SHARE`` of the table; below that share the least recently active host of
either tier does (so a table full of established hosts still admits newcomers, and a newcomer
gets a fair chance to send its second packet).  A wave of one-packet sources therefore only ever
evicts its own kind.  Evictions are counted per tier (``EngineStats.hosts_evicted_by_tier``,
``oddping_hosts_evicted_by_tier`` on /metrics).

Why not a library: cachetools has LRU/LFU/TTL caches but no admission tiers or TinyLFU, and
the engine needs its own eviction hook (a victim's windows are closed and emitted, its table
entry deleted) and a protection criterion of its own (records *sent*).  The bookkeeping is one
ordered dict of probationary hosts next to the engine's host table (which keeps activity
order): a probationary host costs one more dict entry (~100 bytes), a protected one nothing.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any, Mapping

#: Records a host must send itself before it is protected.
PROMOTE_AFTER = 2
#: Probation keeps at least this share of the table before protected hosts are evicted.
PROBATION_SHARE = 0.2

PROBATION = "probation"
PROTECTED = "protected"


class Admission:
    def __init__(self, max_hosts: int) -> None:
        #: host -> records it has sent, probationary hosts only, admitted longest ago first
        self.probation: OrderedDict[str, int] = OrderedDict()
        self.floor = max(1, int(max_hosts * PROBATION_SHARE))
        #: tier -> hosts evicted from it
        self.evicted: Counter = Counter()

    def admitted(self, ip: str, record: Mapping[str, Any]) -> None:
        """A new host: on probation, its first record counted."""
        self.probation[ip] = 0
        self.seen(ip, record)

    def seen(self, ip: str, record: Mapping[str, Any]) -> None:
        """A record of a tracked host: promote a probationary host that has sent enough.
        Costs one dict lookup for a protected host."""
        sent = self.probation.get(ip)
        if sent is None or record["src_ip"] != ip:
            return
        if sent + 1 >= PROMOTE_AFTER:
            del self.probation[ip]
        else:
            self.probation[ip] = sent + 1

    def restored(self, ip: str, first_ns: int, last_ns: int) -> None:
        """A host loaded from saved state: protected when its state spans time (it had more
        than one moment of traffic), else on probation."""
        if last_ns == first_ns:
            self.probation[ip] = 0

    def victim(self, hosts: Mapping[str, Any]) -> str:
        """The host to evict from a full table (`hosts` in activity order, least recent
        first); counted by tier."""
        if len(self.probation) >= self.floor:
            ip = next(iter(self.probation))
        else:
            ip = next(iter(hosts))
        self.evicted[PROBATION if ip in self.probation else PROTECTED] += 1
        self.forget(ip)
        return ip

    def forget(self, ip: str) -> None:
        self.probation.pop(ip, None)

    def is_probationary(self, ip: str) -> bool:
        return ip in self.probation
