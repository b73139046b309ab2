"""Is the worker making progress?  What /healthz answers, so that a stuck worker is restarted.

A worker is stuck when records wait for it and it takes none for `stall_timeout_s`: records
fetched and queued for the agent, or on the broker past what the consumer has handed over.  The
answer is worked out on the event loop (the worker's 1-second timer calls `beat`) and read from
the HTTP server's thread (`verdict`); a loop that stops beating is stuck too.  Rebalancing and
table recovery are never "stuck": recovering a large changelog can take minutes, and restarting
a worker for it would only start it over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    stall_timeout_s: float
    clock: object = time.monotonic  # tests pass their own
    taken_at: float = field(init=False)
    beat_at: float | None = field(default=None, init=False)
    waiting: int = field(default=0, init=False)
    settling: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.taken_at = self.clock()

    def took(self) -> None:
        """The agent took records."""
        self.taken_at = self.clock()

    def beat(self, waiting: int, settling: str | None) -> None:
        """From the event loop: records waiting for the agent, and why waiting is expected
        ("rebalancing", "recovering") or None."""
        now = self.clock()
        self.beat_at = now
        self.waiting = waiting
        self.settling = settling
        if settling is not None or waiting == 0:
            self.taken_at = now  # nothing to take, or not allowed to: not a stall

    def verdict(self) -> tuple[bool, str]:
        now = self.clock()
        if self.beat_at is None:
            return True, "starting"
        if now - self.beat_at > self.stall_timeout_s:
            return False, f"event loop blocked: no heartbeat for {now - self.beat_at:.0f} s"
        if self.settling is not None:
            return True, self.settling
        idle = now - self.taken_at
        if self.waiting and idle > self.stall_timeout_s:
            return False, f"stuck: {self.waiting:,} records waiting and none taken for {idle:.0f} s"
        return True, "ok"
