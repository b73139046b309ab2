#!/usr/bin/env bash
# `make test`: the Debian tools the tests use, a real local Kafka broker, then pytest.
# A broker this script started is stopped again at the end; one already running is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export ODDPING_TEST_BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
started_kafka=0
if ! dev/kafka/kafka.sh status >/dev/null 2>&1; then
  dev/kafka/kafka.sh up
  started_kafka=1
fi
cleanup() { [ "$started_kafka" = 1 ] && dev/kafka/kafka.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT
.venv/bin/python -m pytest "$@"
