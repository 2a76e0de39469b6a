#!/usr/bin/env bash
# `make demo`: everything on a fresh machine, then Eventscope on http://127.0.0.1:8000 with live traffic.
# Sets up the venv, Kafka, Redis and the SQLite database, seeds the demo, starts the Celery worker
# and beat, the trace indexer and the web server, then (once web answers) the simulator, which registers its schemas in
# the web's registry and writes Avro through it; prints the URL and the login, and stops all of it on Ctrl-C.
#
# Environment (all optional):
#   EVENTSCOPE_DEMO_ADDR    where gunicorn listens (default 127.0.0.1:8000)
#   EVENTSCOPE_DEMO_RATE    the simulator's orders per second (default 20)
#   EVENTSCOPE_DEMO_KAFKA   bootstrap address of a Kafka that is already running: used as is, never started
#                           or stopped (default: the local broker of dev/kafka.sh, started when needed)
#   EVENTSCOPE_DEMO_TRACE_TOPICS  a topic pattern (e.g. 'shop.*'): trace only those (default: every topic)
#   EVENTSCOPE_RUN_DIR      state dir: logs, demo password, SQLite file, secret key (default .run)
#   REDIS_URL, DATABASE_URL used when set (default: the Redis on 6379, else a private one; SQLite in the run dir)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=dev/lib.sh
source "$ROOT/dev/lib.sh"
cd "$ROOT"

WEB_ADDR=${EVENTSCOPE_DEMO_ADDR:-127.0.0.1:8000}
SIM_RATE=${EVENTSCOPE_DEMO_RATE:-20}
STOP_GRACE_S=30
LOGS=$RUN/demo
mkdir -p "$LOGS"

pids=()
started_redis=0
started_kafka=0
stop_all() {
  trap - INT TERM HUP EXIT
  # After Ctrl-C the terminal or a pipe (`make demo | tee demo.log`) may be gone: a failed write must not
  # end the script before everything it started has stopped.
  trap '' PIPE
  set +e
  log "stopping the demo"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Each process gets STOP_GRACE_S to finish what it is doing; one that does not is killed, and named.
  local deadline=$((SECONDS + STOP_GRACE_S))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop within ${STOP_GRACE_S}s of TERM: killed ($(ps -o args= -p "$pid" | cut -c1-80))"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  # Only what this script started: a broker that was already running (`make kafka`) keeps running.
  [[ $started_kafka == 1 ]] && { "$ROOT/dev/kafka.sh" stop || true; }
  [[ $started_redis == 1 ]] && stop_redis redis-demo
  log "stopped"
}
trap stop_all EXIT
stopping=0
trap 'stopping=1; exit 130' INT TERM HUP

ensure_venv

if [[ -n ${EVENTSCOPE_DEMO_KAFKA:-} ]]; then
  KAFKA_BOOTSTRAP_SERVERS=$EVENTSCOPE_DEMO_KAFKA
else
  "$ROOT/dev/kafka.sh" status >/dev/null 2>&1 || started_kafka=1
  KAFKA_BOOTSTRAP_SERVERS=$("$ROOT/dev/kafka.sh" start)
fi
export KAFKA_BOOTSTRAP_SERVERS

if [[ -z ${REDIS_URL:-} ]]; then
  if port_open 127.0.0.1 6379; then
    REDIS_URL=redis://127.0.0.1:6379/0
  else
    REDIS_URL=$(start_redis redis-demo 6379)
    started_redis=1
  fi
fi
export REDIS_URL
export DJANGO_DEBUG=${DJANGO_DEBUG:-false}

log "migrating the database and seeding the demo"
"$PY" manage.py migrate --noinput -v0
"$PY" manage.py collectstatic --noinput -v0
password_file=$RUN/demo-password
if [[ ! -s $password_file ]]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(12))' >"$password_file")
fi
"$PY" manage.py seed_demo --username demo --password "$(cat "$password_file")" >/dev/null

start() {  # name, command...: run in the background, output to $LOGS/<name>.log
  local name=$1
  shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  log "started $name (pid $!, log $LOGS/$name.log)"
}

start worker "$VENV/bin/celery" -A eventscope worker -l info --concurrency 2 -n "demo-worker@%h"
start beat "$VENV/bin/celery" -A eventscope beat -l info --schedule "$RUN/celerybeat-schedule"
start web "$VENV/bin/gunicorn" eventscope.wsgi:application --bind "$WEB_ADDR" --workers 2 --threads 4 \
  --access-logfile - --graceful-timeout 5

# The simulator registers its schemas in the web process's registry and writes its Avro topics
# through it, so web must answer before the simulator (and the schemas' registration) starts.
web_ready=0
for _ in $(seq 1 300); do
  if curl -fsS -o /dev/null --max-time 2 "http://$WEB_ADDR/healthz" 2>/dev/null; then
    web_ready=1
    break
  fi
  kill -0 "${pids[-1]}" 2>/dev/null || break # web exited: no point in waiting
  sleep 0.2
done
if [[ $web_ready == 0 ]]; then
  log "the web server did not answer on http://$WEB_ADDR/healthz; see $LOGS/web.log"
  exit 1
fi
# The shop's schemas first: the indexer then decodes the Avro topics from their first record (a schema id it
# does not know yet, e.g. of records left in Kafka by an earlier run, is only asked again a minute later).
"$PY" manage.py register_shop_schemas --registry-url "http://$WEB_ADDR/registry" --registry-user demo \
  --registry-password-file "$password_file" >/dev/null
# --resolve-interval 5: the simulator creates its topics right after; trace them within seconds, not 30.
indexer_args=(--progress-interval 30 --resolve-interval 5)
[[ -n ${EVENTSCOPE_DEMO_TRACE_TOPICS:-} ]] && indexer_args+=(--include "$EVENTSCOPE_DEMO_TRACE_TOPICS")
start indexer "$PY" manage.py index_traces "${indexer_args[@]}"
start simulator "$PY" manage.py simulate --rate "$SIM_RATE" --slow-consumer analytics --slow-ms 15 \
  --progress-interval 30 --registry-url "http://$WEB_ADDR/registry" --registry-user demo \
  --registry-password-file "$password_file"

cat <<MSG

  Eventscope is running: http://$WEB_ADDR/
  Login:    demo / $(cat "$password_file")
  Kafka:    $KAFKA_BOOTSTRAP_SERVERS     Redis: $REDIS_URL
  Logs:     $LOGS/*.log               Stop: Ctrl-C

MSG

# Stay in the foreground until Ctrl-C, or until one of the processes dies (then say which).
while true; do
  for i in "${!pids[@]}"; do
    if [[ $stopping == 0 ]] && ! kill -0 "${pids[$i]}" 2>/dev/null; then
      log "a demo process (pid ${pids[$i]}) exited; see $LOGS/*.log"
      exit 1
    fi
  done
  # A background sleep lets the INT/TERM trap run at once instead of after the sleep.
  sleep 2 &
  wait $! || true
done
