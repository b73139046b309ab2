"""The alert budget: at most so many new alerts per minute of capture time reach the topic.

Rules, windows and the flood monitor bound what each host or target raises; this bounds the
sum, so that nothing a flood can do (say, a wave of sources that each trip a different rule)
floods the alerts topic and the SIEM behind it.  ``processor.alert_budget_per_minute`` is
shared out over the records partitions (processors/partitions.py: an alert belongs to its
host's partition), and each partition's share is counted per minute of capture time, never the
wall clock.

The budget decides once per alert, when its window opens (the finding that opens it, in the
partition's record order): an alert admitted then gets all its versions (the first, the updates
at most once per ``alert_update_interval_s``, the closed one: processors/lifecycle.py), and an
alert refused then gets none.  Deciding per version would cut an alert's closed version after
its open ones went out, and which versions exist depends on how other partitions' records
interleave; deciding at opening depends only on the partition's own records, so the cut is the
same in ``oddping scan`` and on any number of workers.  The flood's own alert (icmp_flood, the
aggregate the budget protects the topic for) is not counted.

Established hosts first: alerts of hosts the engine tracks as established when the window
opens (admission's protected tier, processors/state/admission.py) may use the whole share; all
others (new and one-packet hosts) at most half of it.  A wave of new sources that each trip a
rule therefore cannot crowd out the alerts of the hosts with history.

A refused alert is counted (``EngineStats.alerts_over_budget``, /metrics).  The next alert of
the same partition that is admitted says how many were refused since the last report in its
details: ``alerts_over_budget`` (and the budget, ``alert_budget_per_minute``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from processors.partitions import partition_of

NS_PER_MINUTE = 60 * 1_000_000_000


class AlertBudget:
    def __init__(self, per_minute: int, partitions: int, stats: Any,
                 established: Callable[[str], bool] = lambda _ip: False) -> None:
        """per_minute: emissions per minute over all partitions; 0 = unbounded.
        established: whether a host is established (may use the whole share)."""
        self.established = established
        self.per_minute = per_minute
        self.partitions = max(1, partitions)
        self.share = math.ceil(per_minute / self.partitions) if per_minute else 0
        self.stats = stats
        #: partition -> [minute, emissions in it, dropped not yet reported, of them by others]
        self._state: dict[int, list[int]] = {}

    def admit(self, host_ip: str, ts_ns: int, facts: dict[str, Any]) -> bool:
        """Whether a new alert of host_ip, opened at capture time ts_ns, fits the budget;
        when it does and alerts were refused before it, facts (the window's) say how many."""
        if not self.share:
            return True
        partition = partition_of(host_ip, self.partitions)
        minute = ts_ns // NS_PER_MINUTE
        state = self._state.get(partition)
        if state is None:
            state = self._state[partition] = [minute, 0, 0, 0]
        elif minute > state[0]:
            state[0], state[1], state[3] = minute, 0, 0
        newcomer = not self.established(host_ip)
        if state[1] >= self.share or (newcomer and 2 * state[3] >= self.share):
            state[2] += 1
            self.stats.alerts_over_budget += 1
            return False
        state[1] += 1
        state[3] += newcomer
        if state[2]:
            facts["alerts_over_budget"] = state[2]
            facts["alert_budget_per_minute"] = self.per_minute
            state[2] = 0
        return True
