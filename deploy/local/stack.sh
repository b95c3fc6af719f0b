#!/usr/bin/env bash
# The local stack: devbroker (librdkafka mock cluster), a redis-server of its own, and the
# four services, as background processes with their state, logs and pids under RUN_DIR.
#
#   deploy/local/stack.sh up       start everything, wait until every service is healthy
#   deploy/local/stack.sh down     stop exactly the processes `up` started
#   deploy/local/stack.sh status   what runs, and where
#
# Environment: BUILD (build dir, default build), RUN_DIR (default .run),
# PORTS=fixed (the ports in deploy/local/*.yaml, default) or ephemeral (port 0 everywhere:
# tests, several stacks side by side).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUN_DIR=${RUN_DIR:-.run}
PORTS=${PORTS:-fixed}
SERVICES=(ledger classification notification ingest)

log() { echo "stack: $*" >&2; }
die() { log "$*"; exit 1; }

pidfile() { echo "$RUN_DIR/pids/$1.pid"; }

# Is the process in the pid file still the one we started (same executable)?
alive() {
  local f; f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  local pid exe; read -r pid exe <"$f"
  [ -d "/proc/$pid" ] && [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]
}

start() {  # start <name> <binary> <args...>; env is inherited
  local name=$1 bin=$2; shift 2
  [ -x "$bin" ] || die "$bin is missing: run 'make build' first"
  if alive "$name"; then die "$name is already running (pid $(cut -d' ' -f1 "$(pidfile "$name")")); 'make down' first"; fi
  "$bin" "$@" >>"$RUN_DIR/logs/$name.log" 2>&1 </dev/null &
  echo "$! $(readlink -f "$bin")" >"$(pidfile "$name")"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready_port() {  # ready_port <service> <grpc|metrics>
  grep -o "\"$2\": [0-9]*" "$RUN_DIR/$1.ready" 2>/dev/null | grep -o '[0-9]*$'
}

wait_for() {  # wait_for <what> <seconds> <command...>
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

up() {
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs"
  # The mock broker keeps its log in memory only, so every `up` starts a new history:
  # state derived from an earlier broker's log (stores, applied offsets) goes with it.
  rm -f "$RUN_DIR"/*.db "$RUN_DIR"/*.db-wal "$RUN_DIR"/*.db-shm "$RUN_DIR/messages.jsonl" "$RUN_DIR"/logs/*.log
  local tierctl="$BUILD/tools/tierctl/tierctl"

  # devbroker: the Kafka-protocol broker; its bootstrap address goes to broker.addr.
  rm -f "$RUN_DIR/broker.addr"
  start devbroker "$BUILD/tools/devbroker/devbroker" --brokers 3 --partitions 12 --addr-file "$RUN_DIR/broker.addr"
  wait_for broker 20 test -s "$RUN_DIR/broker.addr" || die "devbroker did not start; see $RUN_DIR/logs/devbroker.log"

  # redis: our own, no persistence (it is a cache: losing it loses nothing).
  local redis_port=6390
  [ "$PORTS" = ephemeral ] && redis_port=$((20000 + RANDOM % 20000))
  while ! port_free "$redis_port"; do redis_port=$((redis_port + 1)); done
  mkdir -p "$RUN_DIR/redis"
  start redis "$(command -v redis-server)" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$RUN_DIR/redis" --daemonize no
  echo "$redis_port" >"$RUN_DIR/redis.port"
  wait_for redis 20 redis-cli -p "$redis_port" ping || die "redis did not start; see $RUN_DIR/logs/redis.log"

  export TIERFLOW_KAFKA_BOOTSTRAP_FILE="$RUN_DIR/broker.addr"
  export TIERFLOW_REDIS_PORT="$redis_port"
  if [ "$PORTS" = ephemeral ]; then
    export TIERFLOW_GRPC_LISTEN=127.0.0.1:0 TIERFLOW_METRICS_LISTEN=127.0.0.1:0
  fi
  for svc in "${SERVICES[@]}"; do
    rm -f "$RUN_DIR/$svc.ready"
    TIERFLOW_READY_FILE="$RUN_DIR/$svc.ready" TIERFLOW_STORE_PATH="$RUN_DIR/$svc.db" \
      TIERFLOW_CHANNELS_FILE_PATH="$RUN_DIR/messages.jsonl" \
      start "$svc" "$BUILD/services/$svc/tierflow-$svc" --config "deploy/local/$svc.yaml"
  done
  for svc in "${SERVICES[@]}"; do
    wait_for "$svc" 30 test -s "$RUN_DIR/$svc.ready" || die "$svc did not start; see $RUN_DIR/logs/$svc.log"
    local port; port=$(ready_port "$svc" grpc)
    wait_for "$svc health" 30 "$tierctl" health --addr "127.0.0.1:$port" \
      || die "$svc is not healthy on port $port; see $RUN_DIR/logs/$svc.log"
  done
  log "up: $(status_line)"
}

status_line() {
  local out="redis :$(cat "$RUN_DIR/redis.port" 2>/dev/null)"
  for svc in "${SERVICES[@]}"; do out+=", $svc grpc :$(ready_port "$svc" grpc) metrics :$(ready_port "$svc" metrics)"; done
  echo "$out"
}

status() {
  for name in devbroker redis "${SERVICES[@]}"; do
    if alive "$name"; then echo "$name: running (pid $(cut -d' ' -f1 "$(pidfile "$name")"))"; else echo "$name: stopped"; fi
  done
  [ -f "$RUN_DIR/ingest.ready" ] && status_line
  return 0
}

down() {
  [ -d "$RUN_DIR/pids" ] || return 0
  # Reverse order of start: the gateway first, the broker last.
  for name in ingest notification classification ledger redis devbroker; do
    alive "$name" || { rm -f "$(pidfile "$name")"; continue; }
    local pid; pid=$(cut -d' ' -f1 "$(pidfile "$name")")
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while alive "$name" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if alive "$name"; then log "$name (pid $pid) did not stop in 15 s: killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$(pidfile "$name")"
  done
  rm -f "$RUN_DIR"/*.ready "$RUN_DIR/broker.addr"
  log "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
