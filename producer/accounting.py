"""Every frame read ends in exactly one bucket: a record, a host observation, skipped (with why)
or malformed (with why).  Fragments wait in `pending_fragments` until they are reassembled,
expire or are dropped, so the books balance at every moment, not only at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Accounting:
    packets_read: int = 0
    records: int = 0
    host_observations: int = 0
    pending_fragments: int = 0
    #: fragment_anomaly records made (extra records about frames counted in their own bucket)
    fragment_anomalies: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)

    def balanced(self) -> bool:
        accounted = (
            self.records
            + self.host_observations
            + self.pending_fragments
            + sum(self.skipped.values())
            + sum(self.malformed.values())
        )
        return accounted == self.packets_read

    def merge(self, other: Accounting) -> None:
        self.packets_read += other.packets_read
        self.records += other.records
        self.host_observations += other.host_observations
        self.pending_fragments += other.pending_fragments
        self.fragment_anomalies += other.fragment_anomalies
        self.skipped.update(other.skipped)
        self.malformed.update(other.malformed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "packets_read": self.packets_read,
            "records": self.records,
            "host_observations": self.host_observations,
            "pending_fragments": self.pending_fragments,
            "fragment_anomalies": self.fragment_anomalies,
            "skipped": dict(sorted(self.skipped.items())),
            "malformed": dict(sorted(self.malformed.items())),
        }

    def summary(self) -> str:
        """One line for stderr: what happened to every packet read."""
        def reasons(counter: Counter[str]) -> str:
            if not counter:
                return "0"
            inner = ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))
            return f"{sum(counter.values())} ({inner})"

        return (
            f"packets read {self.packets_read}: records {self.records}, "
            f"host observations {self.host_observations}, skipped {reasons(self.skipped)}, "
            f"malformed {reasons(self.malformed)}"
            + (f", fragments pending {self.pending_fragments}" if self.pending_fragments else "")
            + (f", fragment anomalies {self.fragment_anomalies}" if self.fragment_anomalies else "")
        )
