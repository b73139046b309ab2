#!/usr/bin/env bash
# `make run`: the whole pipeline on the bundled sample capture (samples/footprints.pcap, the
# seed's Office 365 "Footprints" case): a local Kafka broker, the producer publishes the
# capture's records, a stream worker detects, and the alerts from the alerts topic are printed.
# Each run uses its own topics and consumer group, so runs never see each other's data.
# A broker this script started is stopped again at the end (as `make test` does), unless
# KEEP_KAFKA=1; one already running is left alone. The last line says which, and how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
CAPTURE="${1:-samples/footprints.pcap}"
ODDPING=.venv/bin/oddping
RUN="demo-$(date +%Y%m%d%H%M%S)-$$"
export ODDPING_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:${KAFKA_PORT:-9092}"
export ODDPING_KAFKA__RECORDS_TOPIC="$RUN.records"
export ODDPING_KAFKA__ALERTS_TOPIC="$RUN.alerts"
export ODDPING_KAFKA__DEAD_LETTER_TOPIC="$RUN.records.dlq"
export ODDPING_PROCESSOR__APP_ID="$RUN"
export ODDPING_METRICS__PORT=0

echo "== 1/4 Kafka"
started_kafka=0
if ! dev/kafka/kafka.sh status >/dev/null 2>&1; then
  dev/kafka/kafka.sh up
  started_kafka=1
fi
broker="$ODDPING_KAFKA__BOOTSTRAP_SERVERS"
stop_cmd="KAFKA_PORT=${KAFKA_PORT:-9092} make kafka-down"
worker=""
finish() {
  [ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null || true
  [ -n "$worker" ] && { wait "$worker" 2>/dev/null || true; }
  if [ "$started_kafka" = 1 ] && [ "${KEEP_KAFKA:-0}" != 1 ]; then
    dev/kafka/kafka.sh down >/dev/null 2>&1 || true
    echo "== Kafka at $broker, started by this run, is stopped (KEEP_KAFKA=1 keeps it)"
  elif [ "$started_kafka" = 1 ]; then
    echo "== Kafka at $broker is still running (KEEP_KAFKA=1); stop it with: $stop_cmd"
  else
    echo "== Kafka at $broker was running before this run and still is; stop it with: $stop_cmd"
  fi
}
trap finish EXIT
echo "== 2/4 producer: $CAPTURE -> $ODDPING_KAFKA__RECORDS_TOPIC"
"$ODDPING" produce --pcap "$CAPTURE" --sensor-id demo-sensor
echo "== 3/4 stream worker (faust) -> $ODDPING_KAFKA__ALERTS_TOPIC"
ODDPING_LOG_LEVEL=WARNING "$ODDPING" process >"/tmp/$RUN.worker.log" 2>&1 &
worker=$!
echo "== 4/4 alerts (each alert id once, its newest version: open ones come within seconds)"
"$ODDPING" alerts --format table --wait 90 --idle 8
