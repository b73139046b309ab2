"""The faust floor: a faust worker configured like processors/stream/app.py (its aiokafka transport
delivering the records topic in chunks, memory store, at-least-once, acks=-1, lz4, the same
session and fetch settings) whose one agent takes each chunk and acks it, and does nothing else:
no JSON, no engine, no table, nothing sent.  Records/s of this worker is what faust's consuming
machinery alone allows on this machine; `oddping process` cannot be faster.

    python -m bench.faustfloor APP_ID TOPIC [BOOTSTRAP] [DATADIR] [METRICS_PORT]

With ODDPING_BENCH_FLOOR=stock in the environment it runs on stock `faust.App` instead of the
worker's (processors/stream/transport.py), a record per event, its agent taking batches of 500
with `noack_take(500, within=0.5)` as the worker did before chunks: what that transport saves.

Runs until SIGTERM, like `oddping process`; the stream section measures it as it measures the
worker, by the `oddping_records_consumed_total` it serves on METRICS_PORT.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    import faust
    from prometheus_client import Counter, start_http_server

    from oddping.config import ProcessorSettings
    from oddping.runtime import tune_gc
    from processors.stream.app import quiet_worker, worker_app_options
    from processors.stream.transport import CHUNKS, App

    app_id, topic = sys.argv[1], sys.argv[2]
    bootstrap = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:9092"
    datadir = sys.argv[4] if len(sys.argv) > 4 else "/tmp/oddping-bench-faust"
    port = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    stock = os.environ.get("ODDPING_BENCH_FLOOR") == "stock"
    common = dict(broker=[f"kafka://{server}" for server in bootstrap.split(",")],
                  store="memory://", datadir=datadir, topic_partitions=4,
                  topic_replication_factor=1, **worker_app_options(ProcessorSettings()))
    if stock:
        app = faust.App(app_id, **common | {"stream_buffer_maxsize": 32768})
        records = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=4)
    else:
        app = App(app_id, chunked_topics=frozenset({topic}),
                  chunk_records=ProcessorSettings().batch_size, **common)
        records = app.topic(topic, key_type=bytes, value_type=None, key_serializer="raw",
                            value_serializer=CHUNKS, partitions=4)
    seen = [0]
    consumed = Counter("oddping_records_consumed_total", "Records taken by the agent")
    if port:
        start_http_server(port, "127.0.0.1")

    @app.agent(records, concurrency=1)
    async def floor(stream: faust.StreamT) -> None:
        if stock:
            async for events in stream.noack_take(500, within=0.5):
                seen[0] += len(events)
                consumed.inc(len(events))
                for event in events:
                    await stream.ack(event)
            return
        manual = stream.noack()
        async for chunk in manual.events():
            seen[0] += len(chunk.value)
            consumed.inc(len(chunk.value))
            await manual.ack(chunk)

    # The worker runs a 1-second timer (settle_when_quiet); the floor runs one too, which
    # writes the count to stderr.  Without a timer this do-nothing agent stalled in 3 of 4 runs
    # of ~100k records here (offsets no longer committed), with a silent timer in 1 of 4, with
    # this one in none of 11: see bench/README.md.
    @app.timer(interval=1.0)
    async def tick() -> None:
        print(f"floor: {seen[0]} records taken", file=sys.stderr, flush=True)

    tune_gc()
    quiet_worker(app, "warning").execute_from_commandline()


if __name__ == "__main__":
    main()
