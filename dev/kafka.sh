#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single combined broker+controller node) for development, tests and the demo.
#
#   dev/kafka.sh start | stop | status | bootstrap | fetch | reset
#   dev/kafka.sh tool consumer-groups --describe --all-groups     (Kafka's own CLI tools)
#
# The official jars come from Maven Central through dev/kafka/pom.xml and are cached under
# $EVENTSCOPE_CACHE_DIR (default ~/.cache/eventscope), so only the first run needs the network.
# State (config, data, log, pid, the chosen ports) lives in $EVENTSCOPE_KAFKA_DIR (default .run/kafka).
# The bootstrap address is written to $EVENTSCOPE_KAFKA_DIR/bootstrap, where settings.py reads it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_VERSION=4.4.0
CACHE_DIR=${EVENTSCOPE_CACHE_DIR:-$HOME/.cache/eventscope}
LIBS=$CACHE_DIR/kafka-$KAFKA_VERSION/libs
STATE=${EVENTSCOPE_KAFKA_DIR:-$ROOT/.run/kafka}
PIDFILE=$STATE/kafka.pid
LOG=$STATE/kafka.log
START_TIMEOUT=${EVENTSCOPE_KAFKA_START_TIMEOUT:-90}
JAVA=${JAVA:-java}

say() { echo "kafka: $*" >&2; }

java_version_ok() {
  local v
  v=$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2}' | cut -d. -f1)
  [[ -n "$v" && "$v" -ge 17 ]]
}

fetch() {
  if [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$LIBS/kafka-tools-$KAFKA_VERSION.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || { say "Maven (mvn) is needed once to fetch the Kafka jars"; exit 1; }
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (first run only) ..."
  local tmp
  tmp=$(mktemp -d "$CACHE_DIR.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$CACHE_DIR"; mktemp -d "$CACHE_DIR/tmp.XXXXXX"; })
  mvn -q -B -Dstyle.color=never -f "$ROOT/dev/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >&2
  mkdir -p "$(dirname "$LIBS")"
  rm -rf "$LIBS"
  mv "$tmp/libs" "$LIBS"
  rm -rf "$tmp"
  say "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

running() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

bootstrap() {
  cat "$STATE/bootstrap"
}

write_config() {
  local port=$1 cport=$2
  mkdir -p "$STATE"
  cat >"$STATE/server.properties" <<EOF
# Written by dev/kafka.sh; single-node KRaft (broker and controller in one process) on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$STATE/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $LOG
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
  echo "$port $cport" >"$STATE/ports"
  echo "127.0.0.1:$port" >"$STATE/bootstrap"
}

choose_ports() {
  # Reuse the ports the storage was formatted with when they are still free; the controller
  # endpoint is part of the formatted voter set, so new ports mean a new (empty) storage dir.
  if [[ -f "$STATE/ports" && -d "$STATE/data" ]]; then
    read -r port cport <"$STATE/ports"
    if port_free "$port" && port_free "$cport"; then
      write_config "$port" "$cport"
      return
    fi
    say "ports $port/$cport are taken; starting over with a new storage dir"
    rm -rf "$STATE/data"
  fi
  local port=${EVENTSCOPE_KAFKA_PORT:-9092}
  port_free "$port" || port=$(free_port)
  local cport
  cport=$(free_port)
  while [[ "$cport" == "$port" ]]; do cport=$(free_port); done
  write_config "$port" "$cport"
}

classpath() { echo "$LIBS/*"; }

format_storage() {
  [[ -f "$STATE/data/meta.properties" ]] && return 0
  local cluster_id
  cluster_id=$("$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
      kafka.tools.StorageTool random-uuid)
  "$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
      kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$STATE/server.properties" >&2
}

answers_metadata() {
  "$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$STATE/tools-log4j2.properties" \
      org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$(bootstrap)" >/dev/null 2>&1
}

start() {
  java_version_ok || { say "Java 17 or newer is needed (found: $("$JAVA" -version 2>&1 | head -1))"; exit 1; }
  fetch
  if running; then
    say "already running (pid $(cat "$PIDFILE")) at $(bootstrap)"
    bootstrap
    return 0
  fi
  local t0=$SECONDS
  choose_ports
  tools_log_config
  format_storage
  : >"$LOG"
  # setsid: the broker outlives this script and is not hit by a Ctrl-C sent to make's process group.
  setsid nohup "$JAVA" -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
      -cp "$(classpath)" kafka.Kafka "$STATE/server.properties" >"$STATE/kafka.out" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  say "starting (pid $(cat "$PIDFILE")), log: $LOG"
  until grep -q "Kafka Server started" "$LOG" 2>/dev/null; do
    if ! running; then
      say "the broker exited during start; last lines of its log:"
      tail -n 30 "$LOG" "$STATE/kafka.out" >&2 || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if (( SECONDS - t0 > START_TIMEOUT )); then
      say "not started after ${START_TIMEOUT}s; stopping it"
      stop
      exit 1
    fi
    sleep 0.2
  done
  until answers_metadata; do
    (( SECONDS - t0 > START_TIMEOUT )) && { say "no metadata answer after ${START_TIMEOUT}s"; stop; exit 1; }
    sleep 0.5
  done
  say "ready at $(bootstrap) in $((SECONDS - t0))s"
  bootstrap
}

stop() {
  if ! running; then
    rm -f "$PIDFILE"
    say "not running"
    return 0
  fi
  local pid
  pid=$(cat "$PIDFILE")
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "did not stop within 30s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  say "stopped"
}

status() {
  if running; then
    echo "running (pid $(cat "$PIDFILE")) at $(bootstrap)"
  else
    echo "stopped"
    return 3
  fi
}

tools_log_config() {
  mkdir -p "$STATE"
  cat >"$STATE/tools-log4j2.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

tool() {
  [[ $# -ge 1 ]] || { say "usage: dev/kafka.sh tool NAME|MAIN_CLASS [args...]"; exit 2; }
  local name=$1
  shift
  local main
  case "$name" in
    consumer-groups) main=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    topics) main=org.apache.kafka.tools.TopicCommand ;;
    console-consumer) main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    console-producer) main=org.apache.kafka.tools.ConsoleProducer ;;
    get-offsets) main=org.apache.kafka.tools.GetOffsetShell ;;
    api-versions) main=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    producer-perf-test) main=org.apache.kafka.tools.ProducerPerformance ;;
    consumer-perf-test) main=org.apache.kafka.tools.ConsumerPerformance ;;
    *.*) main=$name ;;
    *) say "unknown tool '$name' (consumer-groups, topics, console-consumer, console-producer, get-offsets, api-versions, producer-perf-test, consumer-perf-test, or a main class)"; exit 2 ;;
  esac
  fetch
  tools_log_config
  exec "$JAVA" -Xmx512m -Dlog4j2.configurationFile="$STATE/tools-log4j2.properties" -cp "$(classpath)" "$main" "$@"
}

cmd=${1:-status}
shift || true
case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  fetch) fetch ;;
  reset) stop; rm -rf "$STATE"; say "state removed" ;;
  tool) tool "$@" ;;
  *) say "usage: dev/kafka.sh start|stop|status|bootstrap|fetch|reset|tool NAME [args]"; exit 2 ;;
esac
