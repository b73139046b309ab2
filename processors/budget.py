"""The alert budget: at most so many alert emissions per minute of capture time reach the topic.

Rules, windows and the flood monitor bound what each host or target raises; this bounds the
sum, so that nothing a flood can do (say, a wave of sources that each trip a different rule)
floods the alerts topic and the SIEM behind it.  ``processor.alert_budget_per_minute`` is
shared out over the records partitions (processors/partitions.py: an alert belongs to its
host's partition), and each partition's share is counted per minute of capture time (the
alert's ``last_seen``), never the wall clock: the cut is the same in ``oddping scan`` and on
any number of workers, given the same emissions.

Established hosts first: alerts of hosts the engine tracks as established (admission's
protected tier, processors/state/admission.py) may use the whole share; all others (new and
one-packet hosts, evicted or expired ones, flood targets) at most half of it.  A wave of new
sources that each trip a rule therefore cannot crowd out the alerts of the hosts with history.

An emission over the budget is dropped and counted (``EngineStats.alerts_over_budget``,
/metrics).  The next alert of the same partition that gets through says how many were dropped
since the last report in its details: ``alerts_over_budget`` (and the budget,
``alert_budget_per_minute``).  A later version of a dropped alert replaces it as usual, so
what a cut costs is mostly intermediate versions.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from processors.alerts import Alert, parse_iso_ns
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

    def admit(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts that fit the budget, in order; the rest counted."""
        if not self.share or not alerts:
            return alerts
        kept = []
        for alert in alerts:
            doc = alert.doc
            partition = partition_of(doc["src_ip"], self.partitions)
            minute = parse_iso_ns(doc["last_seen"]) // NS_PER_MINUTE
            state = self._state.get(partition)
            if state is None:
                state = self._state[partition] = [minute, 0, 0, 0]
            elif minute > state[0]:
                state[0], state[1], state[3] = minute, 0, 0
            newcomer = not self.established(doc["src_ip"])
            if state[1] >= self.share or (newcomer and 2 * state[3] >= self.share):
                state[2] += 1
                self.stats.alerts_over_budget += 1
                continue
            state[1] += 1
            state[3] += newcomer
            if state[2]:
                doc["details"]["alerts_over_budget"] = state[2]
                doc["details"]["alert_budget_per_minute"] = self.per_minute
                state[2] = 0
            kept.append(alert)
        return kept
