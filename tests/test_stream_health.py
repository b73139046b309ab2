"""/healthz of the stream worker (processors/stream/health.py): stuck only when records wait and
none is taken for the stall timeout; never while rebalancing or recovering; a loop that stops
beating is stuck."""

from __future__ import annotations

from processors.stream.health import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress(timeout_s: float = 120.0) -> tuple[Progress, Clock]:
    clock = Clock()
    return Progress(timeout_s, clock=clock), clock


def test_starting_until_the_first_heartbeat():
    p, clock = progress()
    clock.now += 600
    assert p.verdict() == (True, "starting")


def test_records_waiting_and_none_taken_is_stuck_after_the_timeout():
    p, clock = progress()
    p.beat(waiting=5000, settling=None)
    clock.now += 119
    p.beat(waiting=5000, settling=None)
    assert p.verdict()[0]
    clock.now += 2
    p.beat(waiting=5000, settling=None)
    ok, reason = p.verdict()
    assert not ok and "5,000 records waiting" in reason and "121 s" in reason
    p.took()
    assert p.verdict() == (True, "ok")


def test_nothing_waiting_is_never_stuck():
    p, clock = progress()
    for _ in range(10):
        clock.now += 60
        p.beat(waiting=0, settling=None)
    assert p.verdict() == (True, "ok")
    p.beat(waiting=10, settling=None)  # records arrive after a quiet hour: the clock starts now
    clock.now += 60
    assert p.verdict()[0]


def test_rebalancing_and_recovering_are_not_stuck():
    p, clock = progress()
    for settling in ("recovering", "rebalancing"):
        for _ in range(10):
            clock.now += 60
            p.beat(waiting=10_000, settling=settling)
        assert p.verdict() == (True, settling)
    clock.now += 60
    p.beat(waiting=10_000, settling=None)  # recovered: the stall clock starts from here
    assert p.verdict() == (True, "ok")


def test_a_loop_that_stops_beating_is_stuck():
    p, clock = progress(timeout_s=30)
    p.beat(waiting=0, settling=None)
    clock.now += 31
    ok, reason = p.verdict()
    assert not ok and reason.startswith("event loop blocked")


def test_the_worker_app_fetches_as_the_processor_section_says():
    """The fetch depth reaches faust's consumer settings (which faust hands to aiokafka as
    max_partition_fetch_bytes and max_poll_records)."""
    from oddping.config import Settings
    from processors.stream.app import ProcessorMetrics, build_app

    default = build_app(Settings(), ProcessorMetrics(), Progress(120.0))
    assert default.conf.consumer_max_fetch_size == 4 * 1024 * 1024
    assert default.conf.broker_max_poll_records == 50_000
    tuned = Settings(processor={"fetch_partition_bytes": 1 << 20, "poll_records": 777,
                                "app_id": "oddping-tuned"})
    app = build_app(tuned, ProcessorMetrics(), Progress(120.0))
    assert app.conf.consumer_max_fetch_size == 1 << 20
    assert app.conf.broker_max_poll_records == 777


def test_the_worker_logs_at_its_level_and_no_lower():
    """At WARNING, faust's console spinner used to set the root logger to DEBUG (it spins on
    every record), so each debug call in aiokafka and faust, one per message sent, built a log
    record the handler then dropped."""
    import logging

    from oddping.config import Settings
    from processors.stream.app import ProcessorMetrics, build_app, quiet_worker

    app = build_app(Settings(processor={"app_id": "oddping-logs"}), ProcessorMetrics(),
                    Progress(120.0))
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    try:
        for level in ("WARNING", "INFO", "ERROR"):
            quiet_worker(app, level)._setup_logging()
            assert root.level == getattr(logging, level)
            assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
