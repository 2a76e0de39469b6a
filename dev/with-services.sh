#!/usr/bin/env bash
# Run a command (the test suite, the benchmarks) with the services it needs, and leave nothing running:
#   dev/with-services.sh .venv/bin/python -m pytest -x
# Kafka and Redis are started here unless KAFKA_BOOTSTRAP_SERVERS / REDIS_URL point at running
# ones (CI exports REDIS_URL and DATABASE_URL for its own Redis and PostgreSQL).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=dev/lib.sh
source "$ROOT/dev/lib.sh"
cd "$ROOT"

[[ $# -ge 1 ]] || { log "usage: dev/with-services.sh COMMAND [ARGS...]"; exit 2; }
ensure_venv

started_kafka=0
started_redis=0
cleanup() {
  local status=$?
  if [[ $started_kafka == 1 ]]; then EVENTSCOPE_KAFKA_DIR=$RUN/kafka-test "$ROOT/dev/kafka.sh" stop || true; fi
  if [[ $started_redis == 1 ]]; then stop_redis redis-test; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  log "starting a test Kafka broker"
  KAFKA_BOOTSTRAP_SERVERS=$(EVENTSCOPE_KAFKA_DIR=$RUN/kafka-test "$ROOT/dev/kafka.sh" start)
  export KAFKA_BOOTSTRAP_SERVERS
  started_kafka=1
fi
if [[ -z ${REDIS_URL:-} ]]; then
  log "starting a test Redis"
  REDIS_URL=$(start_redis redis-test)
  export REDIS_URL
  started_redis=1
fi

log "running $* (Kafka $KAFKA_BOOTSTRAP_SERVERS, Redis $REDIS_URL, database $(sed -E "s#://[^@/]*@#://***@#" <<<"${DATABASE_URL:-SQLite}"))"
"$@"
