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

A flood's first sources are hosts until the flood is recognised (processors/flood.py), and each
opens windows (tiny_payload, scanner_payload) that take the newcomers' half of the share: at a
capture's start, when every real host is a newcomer too, that refused real hosts' alerts.  So
a refusal can be taken back within its minute: when the flood folds its sources in, their
windows (never to be emitted) give back what they took (``refund``), and the alerts refused in
that partition and minute take the room freed, in the order they were refused (``readmit``),
as far as the budget then allows.  Both happen at a point of the partition's own record order,
so the outcome stays the same in scan and on any number of workers.  At most ``REVOCABLE``
refusals per partition and minute are remembered for this.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from processors.partitions import partition_of

NS_PER_MINUTE = 60 * 1_000_000_000
#: refusals per partition and minute that a refund may still take back (readmit)
REVOCABLE = 4096


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
        #: partition -> the refusals of its current minute a refund may take back, in order:
        #: [host, the caller's reference to the alert, the facts of the alert that reported
        #: it (None: not reported yet)]
        self._refused: dict[int, list[list[Any]]] = {}

    def _current(self, partition: int, minute: int) -> list[int]:
        state = self._state.get(partition)
        if state is None:
            state = self._state[partition] = [minute, 0, 0, 0]
        elif minute > state[0]:
            state[0], state[1], state[3] = minute, 0, 0
            self._refused.pop(partition, None)
        return state

    def _fits(self, state: list[int], newcomer: bool) -> bool:
        return state[1] < self.share and not (newcomer and 2 * state[3] >= self.share)

    def admit(self, host_ip: str, ts_ns: int, facts: dict[str, Any], ref: Any = None) -> bool:
        """Whether a new alert of host_ip, opened at capture time ts_ns, fits the budget;
        when it does and alerts were refused before it, facts (the window's) say how many.
        ref: how the caller finds the alert again should readmit take the refusal back."""
        if not self.share:
            return True
        partition = partition_of(host_ip, self.partitions)
        state = self._current(partition, ts_ns // NS_PER_MINUTE)
        newcomer = not self.established(host_ip)
        if not self._fits(state, newcomer):
            state[2] += 1
            self.stats.alerts_over_budget += 1
            refused = self._refused.setdefault(partition, [])
            if ref is not None and len(refused) < REVOCABLE:
                refused.append([host_ip, ref, None])
            return False
        state[1] += 1
        state[3] += newcomer
        if state[2]:
            facts["alerts_over_budget"] = state[2]
            facts["alert_budget_per_minute"] = self.per_minute
            state[2] = 0
            for entry in self._refused.get(partition, ()):
                if entry[2] is None:
                    entry[2] = facts
        return True

    def _take_back(self, state: list[int], entry: list[Any]) -> None:
        """A refusal that no longer stands: uncounted, and out of the report that carried it
        (the report goes when nothing is left in it)."""
        self.stats.alerts_over_budget -= 1
        report = entry[2]
        if report is None:
            state[2] -= 1
        elif report.get("alerts_over_budget", 0) > 1:
            report["alerts_over_budget"] -= 1
        else:
            report.pop("alerts_over_budget", None)
            report.pop("alert_budget_per_minute", None)

    def refund(self, host_ip: str, ref: Any, opened_ns: int, was_admitted: bool) -> None:
        """An alert of a newcomer that will never be emitted (its host folded into a flood):
        what it took of its minute's share is given back, and a refusal no longer stands."""
        if not self.share:
            return
        partition = partition_of(host_ip, self.partitions)
        state = self._state.get(partition)
        if state is None or state[0] != opened_ns // NS_PER_MINUTE:
            return
        if was_admitted:
            state[1] -= 1
            state[3] = max(0, state[3] - 1)
            return
        refused = self._refused.get(partition, [])
        for index, entry in enumerate(refused):
            if entry[0] == host_ip and entry[1] == ref:
                del refused[index]
                self._take_back(state, entry)
                return

    def readmit(self, partition: int, alive: Callable[[str, Any], bool]) -> list[tuple[str, Any]]:
        """The refusals of the partition's current minute that the room now free takes back,
        in the order they were refused; alive(host, ref) says whether the alert still waits
        (one that does not is left out and dropped from the list)."""
        refused = self._refused.get(partition)
        state = self._state.get(partition)
        if not refused or state is None:
            return []
        taken, kept = [], []
        for entry in refused:
            host_ip, ref = entry[0], entry[1]
            if not alive(host_ip, ref):
                continue
            newcomer = not self.established(host_ip)
            if self._fits(state, newcomer):
                state[1] += 1
                state[3] += newcomer
                self._take_back(state, entry)
                taken.append((host_ip, ref))
            else:
                kept.append(entry)
        self._refused[partition] = kept
        return taken
