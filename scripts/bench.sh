#!/usr/bin/env bash
# `make bench`: the benchmark (bench/run.py, arguments passed on) with the local Kafka broker its
# produce and stream sections need.  Like `make test`: a broker this script started is stopped
# again at the end; one already running is left alone.  ODDPING_BENCH_BOOTSTRAP=host:port points
# the bench at another broker instead, and then none is started here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
export KAFKA_PORT="${KAFKA_PORT:-9092}"
started_kafka=0
if [ -z "${ODDPING_BENCH_BOOTSTRAP:-}" ]; then
  export ODDPING_BENCH_BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
  if ! dev/kafka/kafka.sh status >/dev/null 2>&1; then
    dev/kafka/kafka.sh up
    started_kafka=1
  fi
fi
cleanup() { [ "$started_kafka" = 1 ] && dev/kafka/kafka.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT
.venv/bin/python bench/run.py "$@"
