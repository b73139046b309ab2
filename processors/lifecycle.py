"""The alert lifecycle: when a window's alert is emitted, and again.

An alert window (processors/findings.py) becomes a sequence of *versions* of one alert, all with
the window's ``alert_id``:

=============  ===============================================================================
version 1      ``first_delay`` of event time after the finding that opened the window (0: at
               once).  Event time is the newest capture time the engine has seen (the
               watermark): the host's own records move it, and so do the other hosts' records,
               so a host that sent one packet and fell silent is still reported.
updates        while the window is open and evidence keeps coming, at most one version per
               ``update_interval`` of event time (the evidence in between is folded into the
               next one; each such wait is counted as ``updates_held``).
severity rise  a finding whose severity is above the window's (a signature after heuristics)
               makes the next version due at once, whatever the interval.
final          when the window closes (the host's own time passes its end, the host expires or
               is evicted, or the input ends): status ``closed``, emitted even without new
               evidence, so a consumer knows no more versions of it will come.  A window a rule
               dismisses at close (a traceroute after all) that had open versions ends with a
               ``dismissed`` version instead.
=============  ===============================================================================

Open versions are a function of how records of different hosts interleave (the watermark), so
their number and times may differ between runs; the final version's content is a function of the
host's own records only (the window closes on the host's own time, never on the watermark), so
it is the same in ``oddping scan`` and in the stream, on any number of workers.

Scheduling costs one heap push per version and one comparison per record (the earliest due time
against the watermark).  Heap entries are not removed when a window is closed or emitted early:
an entry is acted on only if its window still exists and still has that due time.
"""

from __future__ import annotations

import heapq
from typing import Iterator

from processors.findings import AlertWindow

OPEN = "open"
CLOSED = "closed"
DISMISSED = "dismissed"
STATUSES = (OPEN, CLOSED, DISMISSED)

#: severity -> rank: a finding raises its window's severity only to a higher rank
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}

NS_PER_S = 1_000_000_000

#: a scheduled version: (due event time ns, host ip, window slot)
Due = tuple[int, str, tuple[str, str, int]]


class Schedule:
    """Due times of the next versions of open windows, earliest first."""

    def __init__(self, first_delay_s: float, update_interval_s: float) -> None:
        self.first_delay_ns = int(first_delay_s * NS_PER_S)
        self.update_interval_ns = int(update_interval_s * NS_PER_S)
        self.heap: list[Due] = []

    def earliest(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    def next_version(self, host_ip: str, window: AlertWindow, ts: int,
                     not_before: int | None = None) -> bool:
        """Evidence arrived at ts in a window with no version scheduled: schedule the first
        version (not before not_before, when given: a flood may be forming, processors/
        flood.py), or the next update no sooner than the interval after the latest version.
        True when the update has to wait for the interval (counted as held back)."""
        held = False
        if window.version == 0:
            due = ts + self.first_delay_ns
            if not_before is not None and not_before > due:
                due = not_before
        else:
            due = window.version_ns + self.update_interval_ns
            if due > ts:
                held = True
            else:
                due = ts
        self._push(host_ip, window, due)
        return held

    def raise_severity(self, host_ip: str, window: AlertWindow, severity: str, rule_severity: str,
                       ts: int) -> None:
        """A finding of the given severity: if it is above the window's, the window takes it,
        and an alert already out gets an update at once."""
        current = window.severity or rule_severity
        if SEVERITY_RANK.get(severity, 0) <= SEVERITY_RANK.get(current, 0):
            return
        window.severity = severity
        if window.version and (window.due_ns is None or window.due_ns > ts):
            self._push(host_ip, window, ts)

    def add(self, host_ip: str, window: AlertWindow) -> None:
        """Re-schedule a window restored from saved state (its due_ns survived)."""
        if window.due_ns is not None:
            heapq.heappush(self.heap, (window.due_ns, host_ip, window.slot))

    def _push(self, host_ip: str, window: AlertWindow, due: int) -> None:
        window.due_ns = due
        heapq.heappush(self.heap, (due, host_ip, window.slot))

    def pop_due(self, now_ns: int) -> Iterator[Due]:
        """The entries due by now_ns, earliest first (possibly stale: the caller checks that
        the window still exists with that due time)."""
        heap = self.heap
        while heap and heap[0][0] <= now_ns:
            yield heapq.heappop(heap)


#: the native fields that say which version a document is rather than what was found
VERSION_FIELDS = frozenset({"version", "status", "version_time"})


def content(doc: dict) -> dict:
    """What an alert version says was found: the native document without its version fields.
    The final version's content is the deterministic part (the same in scan and stream)."""
    return {name: value for name, value in doc.items() if name not in VERSION_FIELDS}
