#!/usr/bin/env bash
# Local single-node Apache Kafka for oddping: one JVM that is both KRaft controller and broker,
# started from the jars that Maven resolves from dev/kafka/pom.xml. No Docker.
#
#   dev/kafka/kafka.sh up       start it (idempotent); returns once the broker answers a real API call
#   dev/kafka/kafka.sh down     stop it and delete its data dir (idempotent)
#   dev/kafka/kafka.sh status   exit 0 when a broker answers on 127.0.0.1:$KAFKA_PORT, 1 otherwise
#   dev/kafka/kafka.sh stop     stop the process but keep its data; `start` (= `up`) brings it back
#
# Environment: KAFKA_PORT (9092), CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_SASL_PORT (KAFKA_PORT+2:
# SASL/PLAIN, user oddping / oddping-secret, for tests), KAFKA_SSL_PORT (KAFKA_PORT+3: TLS with
# client certificates, mTLS), KAFKA_SASL_SSL_PORT (KAFKA_PORT+4: TLS + SCRAM-SHA-256/512),
# KAFKA_DATA_DIR (<repo>/var/kafka), KAFKA_START_TIMEOUT (120 s), KAFKA_HEAP_OPTS (-Xms256m -Xmx1g),
# JAVA_HOME (a Java >= 17 to use).
#
# Security (see README "Secured Kafka"): ACLs are enforced by the StandardAuthorizer.  The
# PLAINTEXT listener (User:ANONYMOUS) and the SASL/PLAIN user oddping are super users, so
# `make run` and the plain tests need no ACLs.  The SSL and SASL_SSL listeners serve a server
# certificate signed by a CA made for this install (openssl) under $KAFKA_DATA_DIR/tls; the
# least-privilege principals sensor, processor, alerts and admin exist as SCRAM users (random
# passwords in $KAFKA_DATA_DIR/tls/<user>.password) and as client certificates (CN=<user>);
# their ACLs (oddping/kafka_acls.py) are applied once the broker answers.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/../.." && pwd -P)"
POM="$HERE/pom.xml"
LOG4J_CONF="$HERE/log4j2.properties"

KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CONTROLLER_PORT:-}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
JAVA_MIN=17

say() { echo "kafka: $*"; }
warn() { echo "kafka: $*" >&2; }
die() { echo "kafka: error: $*" >&2; exit 1; }

[[ "$KAFKA_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_PORT must be a port number, not '$KAFKA_PORT'"
CONTROLLER_PORT="${CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
[[ "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] || die "CONTROLLER_PORT must be a port number, not '$CONTROLLER_PORT'"
[ "$CONTROLLER_PORT" != "$KAFKA_PORT" ] || die "CONTROLLER_PORT must differ from KAFKA_PORT ($KAFKA_PORT)"
SASL_PORT="${KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
[[ "$SASL_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_SASL_PORT must be a port number, not '$SASL_PORT'"
SSL_PORT="${KAFKA_SSL_PORT:-$((KAFKA_PORT + 3))}"
[[ "$SSL_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_SSL_PORT must be a port number, not '$SSL_PORT'"
SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-$((KAFKA_PORT + 4))}"
[[ "$SASL_SSL_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_SASL_SSL_PORT must be a port number, not '$SASL_SSL_PORT'"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a number of seconds"

DATA_DIR="$(realpath -m "${KAFKA_DATA_DIR:-$ROOT/var/kafka}")"
case "$DATA_DIR" in
  / | "$ROOT" | "$HERE" | "${HOME:-/}") die "refusing KAFKA_DATA_DIR=$DATA_DIR (it is deleted by 'down')" ;;
esac
PID_FILE="$DATA_DIR/kafka.pid"
PROPS="$DATA_DIR/server.properties"
LOG_DIRS="$DATA_DIR/data"
APP_LOGS="$DATA_DIR/logs"
TLS_DIR="$DATA_DIR/tls"
# The least-privilege principals: SCRAM users and client certificate CNs (ACLs: oddping/kafka_acls.py).
PRINCIPALS=(sensor processor alerts admin)
LOCK_FILE="$(dirname "$DATA_DIR")/.$(basename "$DATA_DIR").lock"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"
POM_HASH="$(sha256sum "$POM" | cut -c1-16)"
CACHE_DIR="$ROOT/.cache/kafka/$POM_HASH"
LIB="$CACHE_DIR/lib"

JAVA=""

# ---------------------------------------------------------------------------------------------- helpers

lock() {
  # Serialise up/down of the same data dir (e.g. two `make kafka-up` at once).
  command -v flock >/dev/null || return 0
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || die "another kafka.sh holds $LOCK_FILE"
}

tail_logs() { # the newest lines of the broker's logs, after a one-line error
  local f n
  for f in "$APP_LOGS/server.log:10" "$APP_LOGS/stdout.log:6"; do
    n="${f##*:}"
    f="${f%:*}"
    [ -s "$f" ] || continue
    echo "kafka: last lines of $f:" >&2
    tail -n "$n" "$f" | cut -c1-300 | sed 's/^/  | /' >&2
  done
}

java_major() { # java binary -> major version number (8 for 1.8), empty when it does not run
  "$1" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}' |
    awk -F. '{ v = ($1 == "1") ? $2 : $1; sub(/[^0-9].*/, "", v); print v }'
}

find_java() { # prints a java >= JAVA_MIN: JAVA_HOME, then PATH, then /usr/lib/jvm
  local c m
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n "$c" && -x "$c" ]] || continue
    m="$(java_major "$c")"
    if [ -n "$m" ] && [ "$m" -ge "$JAVA_MIN" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

APT_UPDATED=""
apt_ready() { # root with apt-get; runs `apt-get update` once
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || return 1
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed (try it by hand: apt-get update)"
    APT_UPDATED=1
  fi
}

apt_install() {
  apt_ready || die "please install the Debian package(s) $* (or put them on PATH) and run again"
  # Slim Debian images lack this directory and the JDK's postinst then fails.
  mkdir -p /usr/share/man/man1
  say "installing Debian package(s): $*"
  local apt_log
  apt_log="$(mktemp)"
  if ! apt-get install -y -qq --no-install-recommends "$@" >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" | sed 's/^/  | /' >&2
    rm -f "$apt_log"
    die "apt-get install $* failed"
  fi
  rm -f "$apt_log"
}

ensure_java() {
  [ -n "$JAVA" ] && return 0
  JAVA="$(find_java)" && return 0
  say "no Java >= $JAVA_MIN found"
  local pkg=openjdk-17-jre-headless p
  if apt_ready; then
    # Debian 12 carries 17; later releases only later LTS versions.
    for p in openjdk-17-jre-headless openjdk-21-jre-headless openjdk-25-jre-headless; do
      if apt-cache show "$p" >/dev/null 2>&1; then pkg="$p"; break; fi
    done
  fi
  apt_install "$pkg"
  JAVA="$(find_java)" || die "Java >= $JAVA_MIN still not found after installing $pkg"
}

ensure_maven() {
  command -v mvn >/dev/null && return 0
  say "Maven (mvn) not found"
  apt_install maven
  command -v mvn >/dev/null || die "mvn still not found after installing maven"
}

resolve_jars() {
  [ -f "$LIB/.complete" ] && return 0
  ensure_maven
  say "resolving Kafka $KAFKA_VERSION jars with Maven into ${LIB#"$ROOT"/} (first run downloads ~45 MB)"
  mkdir -p "$CACHE_DIR"
  local tmp="$CACHE_DIR/lib.tmp.$$" mvn_log="$CACHE_DIR/mvn.log"
  rm -rf "$tmp"
  # Run Maven with the Java found above (a system default older than 17 would also do, but be consistent).
  local jhome
  jhome="$(dirname "$(dirname "$(readlink -f "$JAVA")")")"
  if ! (cd "$HERE" && JAVA_HOME="$jhome" mvn -q -B -Dstyle.color=never -f "$POM" \
      dependency:copy-dependencies -DoutputDirectory="$tmp") >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    echo "kafka: last lines of $mvn_log:" >&2
    tail -n 25 "$mvn_log" | sed 's/^/  | /' >&2
    die "Maven could not resolve the jars of $POM"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "Maven ran but $tmp has no kafka_2.13 jar"
  touch "$tmp/.complete"
  rm -rf "$LIB"
  mv "$tmp" "$LIB"
}

port_open() { # is something listening on 127.0.0.1:$1 ?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

proc_alive() { # running and not a zombie
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)"
  [ "$state" != Z ] && [ "$state" != X ]
}

managed_pid() { # prints the pid of the broker this script started for this data dir, if it runs
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [ -n "$pid" ] && proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

probe() { # does a Kafka broker answer an ApiVersions request on $BOOTSTRAP ?
  port_open "$KAFKA_PORT" || return 1
  if [ -n "$JAVA" ] && [ -f "$LIB/.complete" ]; then
    # kafka-broker-api-versions: a real request/response through the Java admin client.
    timeout 30 "$JAVA" -Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m \
      -Dlog4j2.level=error -cp "$LIB/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
      --bootstrap-server "$BOOTSTRAP" 2>/dev/null | grep -q "ApiVersion" && return 0
    return 1
  fi
  # No jars yet (status before any up): ask with confluent_kafka if a Python has it.
  local py
  for py in "$ROOT/.venv/bin/python" python3; do
    command -v "$py" >/dev/null || continue
    "$py" -c 'import confluent_kafka' 2>/dev/null || continue
    timeout 20 "$py" - "$BOOTSTRAP" <<'PY' >/dev/null 2>&1 && return 0 || return 1
import sys
from confluent_kafka.admin import AdminClient
AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=10)
PY
  done
  return 1
}

make_tls() { # this install's CA, server certificate, client certificates and SCRAM passwords, once
  [ -f "$TLS_DIR/.complete" ] && return 0
  command -v openssl >/dev/null || apt_install openssl
  command -v openssl >/dev/null || die "openssl still not found after installing it"
  say "making a CA, certificates and SCRAM passwords for this install in $TLS_DIR"
  rm -rf "$TLS_DIR" "$LOG_DIRS" # new passwords: the SCRAM users are added when formatting
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  local log="$TLS_DIR/openssl.log" user
  (
    set -e
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=oddping dev CA $(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    issue() { # name subject extension -> name.key (PKCS#8) + name.crt, signed by the CA
      openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -extfile <(printf '%s\n' "$3") -out "$1.crt"
      rm -f "$1.csr"
    }
    # The server certificate names 127.0.0.1 only (not localhost: a host name mismatch to test).
    issue server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1"
    cat server.key server.crt ca.pem >server.pem
    for user in "${PRINCIPALS[@]}"; do
      issue "$user" "/CN=$user" "extendedKeyUsage=clientAuth"
      head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$user.password"
    done
    chmod 600 ./*.key ./*.password server.pem
  ) >"$log" 2>&1 || { sed 's/^/  | /' "$log" >&2; die "openssl could not make the certificates"; }
  touch "$TLS_DIR/.complete"
}

scram_args() { # kafka-storage format arguments adding every principal as a SCRAM-SHA-256/512 user
  local user mech
  for user in "${PRINCIPALS[@]}"; do
    for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
      printf '%s\n' --add-scram "$mech=[name=$user,password=$(cat "$TLS_DIR/$user.password")]"
    done
  done
}

apply_acls() { # the least-privilege ACLs of oddping's default names, through the admin API
  local py="$ROOT/.venv/bin/python"
  if [ -x "$py" ] && "$py" -c 'import oddping.kafka_acls' 2>/dev/null; then
    "$py" -m oddping.kafka_acls --bootstrap-servers "$BOOTSTRAP" >>"$APP_LOGS/acls.log" 2>&1 ||
      warn "could not apply the ACLs (see $APP_LOGS/acls.log)"
  else
    warn "no .venv yet ('make install'): the least-privilege ACLs were not applied"
  fi
}

write_props() {
  cat <<EOF
# Written by dev/kafka/kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
# A SASL/PLAIN listener with one test user, so the tests exercise real authentication
# (and a real refusal).  Local development only: the password is in this file.
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_oddping="oddping-secret";
# TLS: the server certificate (PEM: PKCS#8 key + chain) signed by this install's CA; the SSL
# listener requires a client certificate of that CA (mTLS), whose CN becomes the principal.
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT
# SASL_SSL: SCRAM users, stored in the cluster metadata (added when the data dir is formatted).
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# ACLs.  PLAINTEXT (and the controller listener) authenticate nobody (User:ANONYMOUS) and the
# SASL/PLAIN user is a test user: both are super users, so make run and the plain tests need
# no ACLs.  Everyone else gets exactly what oddping/kafka_acls.py grants.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:oddping
allow.everyone.if.no.acl.found=false
log.dirs=$LOG_DIRS
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

wait_ready() { # $1 = broker pid
  local pid="$1" start=$SECONDS
  while :; do
    if ! proc_alive "$pid"; then
      rm -f "$PID_FILE"
      warn "error: the broker (pid $pid) exited during startup"
      tail_logs
      exit 1
    fi
    if probe; then
      say "up on $BOOTSTRAP (pid $pid, Kafka $KAFKA_VERSION, ready in $((SECONDS - start)) s, logs in $APP_LOGS)"
      return 0
    fi
    if [ $((SECONDS - start)) -ge "$START_TIMEOUT" ]; then
      warn "error: the broker (pid $pid) did not answer on $BOOTSTRAP within ${START_TIMEOUT} s; 'dev/kafka/kafka.sh down' stops it"
      tail_logs
      exit 1
    fi
    sleep 1
  done
}

# --------------------------------------------------------------------------------------------- commands

cmd_up() {
  lock
  ensure_java
  local pid
  if pid="$(managed_pid)"; then
    local same=1
    write_props | cmp -s - "$PROPS" || same=""
    if [ -f "$LIB/.complete" ] && probe; then
      say "already up on $BOOTSTRAP (pid $pid)"
      [ -n "$same" ] || warn "note: it runs with other settings than these (see $PROPS); 'down' then 'up' to apply them"
      return 0
    fi
    [ -n "$same" ] || die "the broker of $DATA_DIR (pid $pid) runs with other settings (see $PROPS): run 'dev/kafka/kafka.sh down' first"
    say "broker pid $pid is running but does not answer yet; waiting"
    resolve_jars
    wait_ready "$pid"
    return 0
  fi
  if [ -f "$PID_FILE" ]; then
    say "removing stale pid file $PID_FILE"
    rm -f "$PID_FILE"
  fi

  resolve_jars
  if port_open "$KAFKA_PORT"; then
    if probe; then
      say "already up on $BOOTSTRAP: a broker not started by this script (docker compose?) answers there; leaving it"
      return 0
    fi
    die "127.0.0.1:$KAFKA_PORT is in use by another process (set KAFKA_PORT to use another port)"
  fi
  port_open "$CONTROLLER_PORT" && die "controller port 127.0.0.1:$CONTROLLER_PORT is in use (set CONTROLLER_PORT)"

  mkdir -p "$DATA_DIR" "$APP_LOGS"
  make_tls
  local new_props="$PROPS.new"
  write_props >"$new_props"
  if [ -f "$LOG_DIRS/meta.properties" ] && ! cmp -s "$new_props" "$PROPS"; then
    say "broker settings changed since the data dir was formatted: starting from empty data"
    rm -rf "$LOG_DIRS"
  fi
  mv "$new_props" "$PROPS"

  if [ ! -f "$LOG_DIRS/meta.properties" ]; then
    rm -rf "$LOG_DIRS"
    local cluster_id
    # A cluster id is a base64url (no padding) 16-byte UUID, as `kafka-storage random-uuid` prints.
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    local scram=()
    mapfile -t scram < <(scram_args)
    if ! "$JAVA" -Xshare:auto -XX:TieredStopAtLevel=1 -Dlog4j2.level=warn -cp "$LIB/*" kafka.tools.StorageTool \
        format --standalone -t "$cluster_id" -c "$PROPS" "${scram[@]}" >"$APP_LOGS/format.log" 2>&1; then
      sed 's/^/  | /' "$APP_LOGS/format.log" >&2
      die "kafka-storage format failed"
    fi
  fi

  echo "=== $(date -u +%FT%TZ) kafka.sh up: Kafka $KAFKA_VERSION on $BOOTSTRAP" >>"$APP_LOGS/stdout.log"
  # setsid + nohup: the broker outlives this shell, its terminal and its process group; 9>&- so that it
  # does not inherit (and hold forever) the lock.
  # shellcheck disable=SC2086  # HEAP_OPTS is a list of JVM options
  (cd "$DATA_DIR" && exec nohup setsid "$JAVA" $HEAP_OPTS -server \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$APP_LOGS" -Dlog4j2.shutdownHookEnabled=false \
    -cp "$LIB/*" kafka.Kafka "$PROPS" >>"$APP_LOGS/stdout.log" 2>&1 </dev/null 9>&-) &
  pid=$!
  echo "$pid" >"$PID_FILE"
  say "starting Kafka $KAFKA_VERSION on $BOOTSTRAP (controller 127.0.0.1:$CONTROLLER_PORT, pid $pid, data $DATA_DIR)"
  wait_ready "$pid"
  apply_acls
  say "secured listeners: SSL (mTLS) 127.0.0.1:$SSL_PORT, SASL_SSL (SCRAM) 127.0.0.1:$SASL_SSL_PORT; CA, client certificates and passwords in $TLS_DIR"
}

stop_broker() { # SIGTERM, up to 30 s, then SIGKILL; keeps the data dir
  local pid i
  if ! pid="$(managed_pid)"; then
    say "not running (no live broker for $DATA_DIR)"
    rm -f "$PID_FILE"
    return 0
  fi
  say "stopping the broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  if proc_alive "$pid"; then
    warn "the broker did not stop within 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      proc_alive "$pid" || break
      sleep 0.1
    done
  fi
  proc_alive "$pid" && die "pid $pid is still alive"
  rm -f "$PID_FILE"
}

cmd_down() {
  lock
  stop_broker
  if [ -d "$DATA_DIR" ]; then
    # Only what this script creates, so a mistaken KAFKA_DATA_DIR loses nothing else.
    rm -rf "$LOG_DIRS" "$APP_LOGS" "$TLS_DIR" "$PROPS" "$PROPS.new" "$PID_FILE"
    if rmdir "$DATA_DIR" 2>/dev/null; then
      say "removed $DATA_DIR"
    else
      warn "removed the broker's files but left $DATA_DIR: it holds files kafka.sh did not create"
    fi
  fi
  return 0
}

cmd_stop() {
  lock
  stop_broker
}

cmd_status() {
  JAVA="$(find_java || true)"
  local pid=""
  pid="$(managed_pid || true)"
  if probe; then
    if [ -n "$pid" ]; then
      say "up on $BOOTSTRAP (pid $pid, Kafka $KAFKA_VERSION)"
    else
      say "up on $BOOTSTRAP (a broker not started by kafka.sh)"
    fi
    return 0
  fi
  if [ -n "$pid" ]; then
    say "pid $pid is running but does not answer on $BOOTSTRAP"
  else
    say "down (nothing answers on $BOOTSTRAP)"
  fi
  return 1
}

case "${1:-}" in
  up | start) cmd_up ;;
  down) cmd_down ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status|start|stop" >&2
    exit 2
    ;;
esac
