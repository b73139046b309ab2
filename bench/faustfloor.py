"""The faust floor: a faust worker configured like processors/stream/app.py (its aiokafka transport,
raw bytes topic, memory store, at-least-once, acks=-1, lz4, the same session settings) whose one
agent takes the same batches (`noack_take(500, within=0.5)`) and acks them, and does nothing else:
no JSON, no engine, no table, nothing sent.  Records/s of this worker is what faust's consuming
machinery alone allows on this machine; `oddping process` cannot be faster.

    python -m bench.faustfloor APP_ID TOPIC [BOOTSTRAP] [DATADIR] [METRICS_PORT]

With ODDPING_BENCH_FLOOR=stock in the environment it runs on stock `faust.App` instead of the
worker's (processors/stream/transport.py): what that transport saves.

Runs until SIGTERM, like `oddping process`; the stream section measures it as it measures the
worker, by the `oddping_records_consumed_total` it serves on METRICS_PORT.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    import faust
    from faust.worker import Worker
    from prometheus_client import Counter, start_http_server

    from processors.stream.app import WORKER_APP_OPTIONS
    from processors.stream.transport import App

    app_id, topic = sys.argv[1], sys.argv[2]
    bootstrap = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:9092"
    datadir = sys.argv[4] if len(sys.argv) > 4 else "/tmp/oddping-bench-faust"
    port = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    app_class = faust.App if os.environ.get("ODDPING_BENCH_FLOOR") == "stock" else App
    app = app_class(
        app_id,
        broker=[f"kafka://{server}" for server in bootstrap.split(",")],
        store="memory://",
        datadir=datadir,
        topic_partitions=4,
        topic_replication_factor=1,
        **WORKER_APP_OPTIONS,
    )
    records = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                        value_serializer="raw", partitions=4)
    seen = [0]
    consumed = Counter("oddping_records_consumed_total", "Records taken by the agent")
    if port:
        start_http_server(port, "127.0.0.1")

    @app.agent(records, concurrency=1)
    async def floor(stream: faust.StreamT) -> None:
        async for events in stream.noack_take(500, within=0.5):
            seen[0] += len(events)
            consumed.inc(len(events))
            for event in events:
                await stream.ack(event)

    # The worker runs a 1-second timer (settle_when_quiet); the floor runs one too, which
    # writes the count to stderr.  Without a timer this do-nothing agent stalled in 3 of 4 runs
    # of ~100k records here (offsets no longer committed), with a silent timer in 1 of 4, with
    # this one in none of 11: see bench/README.md.
    @app.timer(interval=1.0)
    async def tick() -> None:
        print(f"floor: {seen[0]} records taken", file=sys.stderr, flush=True)

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
