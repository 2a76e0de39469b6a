#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single combined broker+controller node) for development, tests and the demo.
#
#   dev/kafka.sh start [--secure] | stop | status | bootstrap | fetch | reset
#   dev/kafka.sh tool consumer-groups --describe --all-groups     (Kafka's own CLI tools)
#
# `start --secure` (or EVENTSCOPE_KAFKA_SECURE=1) adds secured listeners beside the PLAINTEXT one, on
# free ports: SASL_SSL (SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN for one user), SSL (TLS, no client
# certificate) and MTLS (TLS that requires a client certificate). A CA, a broker certificate for
# 127.0.0.1/localhost and a client certificate are made with openssl for the state dir; the listeners,
# file paths, user and password are written to $EVENTSCOPE_KAFKA_DIR/secure.env and printed.
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
SECURE=${EVENTSCOPE_KAFKA_SECURE:-0}
[[ $SECURE == 1 || $SECURE == true || $SECURE == yes ]] && SECURE=1 || SECURE=0
TLS=$STATE/tls
SECURE_ENV=$STATE/secure.env
SASL_USER=eventscope

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
  if [[ $SECURE == 1 ]]; then secure_ports "$port" "$cport"; fi
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ $SECURE == 1 ]]; then
    local secured="SASL_SSL://127.0.0.1:$SASL_SSL_PORT,SSL://127.0.0.1:$SSL_PORT,MTLS://127.0.0.1:$MTLS_PORT"
    listeners+=",$secured"
    advertised+=",$secured"
    protocols+=",SASL_SSL:SASL_SSL,SSL:SSL,MTLS:SSL"
  fi
  cat >"$STATE/server.properties" <<EOF
# Written by dev/kafka.sh; single-node KRaft (broker and controller in one process) on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
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
  if [[ $SECURE == 1 ]]; then secure_config >>"$STATE/server.properties"; fi
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

# ---------------------------------------------------------------------------------------------
# Secured listeners (start --secure): certificates, SASL users, listener config, secure.env
# ---------------------------------------------------------------------------------------------
secure_ports() {
  # Reuse the previous run's ports when they are still free (they are not part of the formatted
  # storage, so new ones cost nothing); otherwise free ones, distinct from each other.
  SASL_SSL_PORT="" SSL_PORT="" MTLS_PORT=""
  if [[ -f "$STATE/secure-ports" ]]; then
    read -r SASL_SSL_PORT SSL_PORT MTLS_PORT <"$STATE/secure-ports" || true
  fi
  local taken=" $* "
  local name p
  for name in SASL_SSL_PORT SSL_PORT MTLS_PORT; do
    p=${!name}
    if [[ -z $p || $taken == *" $p "* ]] || ! port_free "$p"; then
      p=$(free_port)
      while [[ $taken == *" $p "* ]]; do p=$(free_port); done
    fi
    taken+="$p "
    printf -v "$name" '%s' "$p"
  done
  echo "$SASL_SSL_PORT $SSL_PORT $MTLS_PORT" >"$STATE/secure-ports"
}

make_certs() {
  # A CA, a broker certificate for 127.0.0.1 and localhost (SAN) and a client certificate, made once
  # per state dir and again when one expires within a day. The broker's key is an encrypted PKCS#8
  # PEM (Kafka's PEM key stores need a key password); the client's is plain PEM, as librdkafka takes it.
  if [[ -f $TLS/ca.pem && -f $TLS/broker-keystore.pem && -f $TLS/client.pem && -f $TLS/sasl-password ]] &&
     openssl x509 -checkend 86400 -noout -in "$TLS/broker-keystore.pem" >/dev/null 2>&1 &&
     openssl x509 -checkend 86400 -noout -in "$TLS/client.pem" >/dev/null 2>&1; then
    return 0
  fi
  command -v openssl >/dev/null || { say "openssl is needed for --secure (apt-get install openssl)"; exit 1; }
  say "making a CA and broker and client certificates in $TLS"
  rm -rf "$TLS"
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  local days=30
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/ca.key" -out "$TLS/ca.pem" -days "$days" \
      -subj "/CN=Eventscope dev CA $(date -u +%Y%m%d%H%M%S)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  local who
  for who in broker client; do
    local cn=localhost usage=serverAuth,clientAuth san="subjectAltName=DNS:localhost,IP:127.0.0.1"
    [[ $who == client ]] && cn=eventscope-client usage=clientAuth san="subjectAltName=DNS:eventscope-client"
    openssl req -newkey rsa:2048 -nodes -keyout "$TLS/$who.key" -out "$TLS/$who.csr" -subj "/CN=$cn" 2>/dev/null
    printf '%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
        "$san" "$usage" >"$TLS/$who.ext"
    openssl x509 -req -in "$TLS/$who.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
        -out "$TLS/$who.pem" -days "$days" -extfile "$TLS/$who.ext" 2>/dev/null
    rm -f "$TLS/$who.csr" "$TLS/$who.ext"
  done
  openssl rand -hex 16 >"$TLS/key-password"
  openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in "$TLS/broker.key" -passout "file:$TLS/key-password" \
      -out "$TLS/broker-key.enc.pem"
  cat "$TLS/broker-key.enc.pem" "$TLS/broker.pem" "$TLS/ca.pem" >"$TLS/broker-keystore.pem"
  rm -f "$TLS/broker-key.enc.pem" "$TLS/broker.key" "$TLS/ca.srl"
  openssl pkcs8 -topk8 -nocrypt -in "$TLS/client.key" -out "$TLS/client.key.tmp" && mv "$TLS/client.key.tmp" "$TLS/client.key"
  openssl rand -hex 12 >"$TLS/sasl-password"
  chmod 600 "$TLS"/*
  rm -f "$STATE/scram-user"  # a new password: the SCRAM credential must be written again
}

secure_config() {
  local password
  password=$(cat "$TLS/sasl-password")
  cat <<EOF
# Secured listeners (dev/kafka.sh start --secure). TLS: PEM key store and trust store made by make_certs.
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/broker-keystore.pem
ssl.key.password=$(cat "$TLS/key-password")
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$password";
EOF
}

scram_option() {
  local password
  password=$(cat "$TLS/sasl-password")
  printf 'SCRAM-SHA-256=[name=%s,password=%s]\nSCRAM-SHA-512=[name=%s,password=%s]\n' \
      "$SASL_USER" "$password" "$SASL_USER" "$password"
}

ensure_scram_user() {
  # Storage formatted in secure mode already holds the SCRAM credentials (format --add-scram); a
  # storage made before (plain start, or a new password) gets them now through the PLAINTEXT listener.
  [[ -f "$STATE/scram-user" ]] && return 0
  local password
  password=$(cat "$TLS/sasl-password")
  say "adding the SCRAM credentials of user $SASL_USER"
  local mechanism
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do  # one per request: Kafka refuses two for one user
    if ! "$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$STATE/tools-log4j2.properties" \
        org.apache.kafka.tools.ConfigCommand --bootstrap-server "$(bootstrap)" --alter --entity-type users \
        --entity-name "$SASL_USER" --add-config "$mechanism=[password=$password]" >/dev/null; then
      say "could not add the $mechanism credentials; stopping"
      stop
      exit 1
    fi
  done
  echo "$SASL_USER" >"$STATE/scram-user"
}

write_secure_env() {
  cat >"$SECURE_ENV" <<EOF
# Written by dev/kafka.sh start --secure: the secured listeners of this broker (KEY=VALUE, shell-sourceable).
PLAINTEXT_BOOTSTRAP=$(bootstrap)
SASL_SSL_BOOTSTRAP=127.0.0.1:$SASL_SSL_PORT
SASL_MECHANISMS=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
SSL_BOOTSTRAP=127.0.0.1:$SSL_PORT
MTLS_BOOTSTRAP=127.0.0.1:$MTLS_PORT
CA_FILE=$TLS/ca.pem
CLIENT_CERT_FILE=$TLS/client.pem
CLIENT_KEY_FILE=$TLS/client.key
SASL_USERNAME=$SASL_USER
SASL_PASSWORD=$(cat "$TLS/sasl-password")
EOF
  chmod 600 "$SECURE_ENV"
}

print_secure() {
  [[ -f $SECURE_ENV ]] || return 0
  # shellcheck disable=SC1090
  (
    source "$SECURE_ENV"
    echo "secured listeners (details in $SECURE_ENV):"
    echo "  SASL_SSL $SASL_SSL_BOOTSTRAP  ($SASL_MECHANISMS; user $SASL_USERNAME, password $SASL_PASSWORD)"
    echo "  SSL      $SSL_BOOTSTRAP  (TLS, no client certificate)"
    echo "  MTLS     $MTLS_BOOTSTRAP  (TLS, client certificate $CLIENT_CERT_FILE, key $CLIENT_KEY_FILE)"
    echo "  CA       $CA_FILE"
  ) >&2
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
  rm -f "$STATE/scram-user"
  local cluster_id
  cluster_id=$("$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
      kafka.tools.StorageTool random-uuid)
  local scram=()
  if [[ $SECURE == 1 ]]; then
    local line
    while IFS= read -r line; do scram+=(--add-scram "$line"); done < <(scram_option)
  fi
  # Its output echoes the bootstrap records, SCRAM salts and keys included: shown only when it fails.
  if ! "$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
      kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$STATE/server.properties" "${scram[@]}" \
      >"$STATE/format.out" 2>&1; then
    cat "$STATE/format.out" >&2
    exit 1
  fi
  grep -v '^Bootstrap metadata' "$STATE/format.out" >&2 || true
  if [[ $SECURE == 1 ]]; then echo "$SASL_USER" >"$STATE/scram-user"; fi
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
    if [[ $SECURE == 1 && ! -f $SECURE_ENV ]]; then
      say "it runs without the secured listeners: stop it first (dev/kafka.sh stop), then start --secure"
      exit 1
    fi
    print_secure
    bootstrap
    return 0
  fi
  local t0=$SECONDS
  rm -f "$SECURE_ENV"
  if [[ $SECURE == 1 ]]; then make_certs; fi
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
  if [[ $SECURE == 1 ]]; then
    ensure_scram_user
    write_secure_env
  fi
  say "ready at $(bootstrap) in $((SECONDS - t0))s"
  print_secure
  bootstrap
}

stop() {
  rm -f "$SECURE_ENV"
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
    print_secure
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
  start)
    for arg in "$@"; do
      case "$arg" in
        --secure) SECURE=1 ;;
        *) say "unknown option '$arg' (start [--secure])"; exit 2 ;;
      esac
    done
    start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  fetch) fetch ;;
  reset) stop; rm -rf "$STATE"; say "state removed" ;;
  tool) tool "$@" ;;
  *) say "usage: dev/kafka.sh start [--secure]|stop|status|bootstrap|fetch|reset|tool NAME [args]"; exit 2 ;;
esac
