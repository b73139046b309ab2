"""A right taken away while the worker runs: stop processing, and /healthz says which.

The worker checks every right it needs before it starts (oddping/kafka_access.py).  An ACL
removed later shows up in aiokafka's group coordinator: heartbeats, joins and offset commits
fail with GroupAuthorizationFailedError, which the coordinator keeps in `_pending_exception`
(and stops coordinating) until `AIOKafkaConsumer.getmany()` calls `check_errors()`.  faust
fetches through aiokafka's Fetcher directly and never calls it, so without this guard the worker
looks alive and does nothing, silently.  The guard peeks at that slot from the worker's 1-second
timer: once an authorization error is there, it pauses every partition (nothing more is taken,
nothing is acked), logs one line and makes /healthz fail with that line, so the orchestrator
restarts the worker, whose startup check then names the missing right again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import errors

from oddping.kafka_access import explain
from oddping.logs import get_logger

log = get_logger("oddping.process")


# What a fetch raises when aiokafka hands a coordinator's error to its waiters instead.
AUTHORIZATION_ERRORS = (errors.GroupAuthorizationFailedError,
                        errors.TopicAuthorizationFailedError,
                        errors.ClusterAuthorizationFailedError)


class AccessGuard:
    def __init__(self, who: str) -> None:
        self.who = who
        self.lost: str | None = None

    def watch(self, app: Any) -> bool:
        """True once a right was lost (then the worker must not go on)."""
        if self.lost is None:
            line = self._look(app)
            if line is not None:
                self._stop(app, line)
        return self.lost is not None

    def refused(self, app: Any, error: Exception) -> None:
        """A fetch raised one of AUTHORIZATION_ERRORS (aiokafka aborted its waiters with it)."""
        if self.lost is None:
            name = type(error).__name__
            resource = app.conf.id if "Group" in name else _named(error)
            self._stop(app, explain(self.who, name, resource) or f"{self.who}: {name}")

    def _stop(self, app: Any, line: str) -> None:
        self.lost = line
        log.error(line)
        consumer = app.consumer
        consumer.pause_partitions(consumer.assignment())

    def _look(self, app: Any) -> str | None:
        consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
        coordinator = getattr(consumer, "_coordinator", None)
        if coordinator is None:
            return None
        error = getattr(coordinator, "_pending_exception", None)
        task = getattr(coordinator, "_coordination_task", None)
        if error is None and task is not None and task.done() and not task.cancelled():
            error = task.exception()
        if error is None:
            return None
        name = type(error).__name__
        resource = coordinator.group_id if "Group" in name else _named(error)
        return explain(self.who, name, resource)

    def verdict(self, inner: Callable[[], tuple[bool, str]]) -> Callable[[], tuple[bool, str]]:
        """/healthz: the lost right, else what `inner` says."""
        def verdict() -> tuple[bool, str]:
            return (False, self.lost) if self.lost is not None else inner()
        return verdict


def _named(error: BaseException) -> str | None:
    """The resource aiokafka put in the error (a topic name, or a set of them), if any."""
    if not error.args:
        return None
    what = error.args[0]
    return ", ".join(sorted(map(str, what))) if isinstance(what, (set, frozenset, list)) else str(what)
