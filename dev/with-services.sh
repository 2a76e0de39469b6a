#!/usr/bin/env bash
# Run a command (the test suite, the benchmarks) with the services it needs, and leave nothing running:
#   dev/with-services.sh .venv/bin/python -m pytest -x
# Kafka and Redis are started here unless KAFKA_BOOTSTRAP_SERVERS / REDIS_URL point at running
# ones (CI exports REDIS_URL and DATABASE_URL for its own Redis and PostgreSQL).
# With EVENTSCOPE_SECURE_KAFKA=1 (`make test`) the broker also gets the secured listeners of
# `dev/kafka.sh start --secure` (SASL_SSL with SCRAM and PLAIN, TLS, mutual TLS), described to the tests
# by EVENTSCOPE_TEST_KAFKA_SECURE_ENV; when KAFKA_BOOTSTRAP_SERVERS points at a broker of yours, a
# second, secured one is started for those tests unless EVENTSCOPE_TEST_KAFKA_SECURE_ENV is set.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=dev/lib.sh
source "$ROOT/dev/lib.sh"
cd "$ROOT"

[[ $# -ge 1 ]] || { log "usage: dev/with-services.sh COMMAND [ARGS...]"; exit 2; }
ensure_venv

started_kafka=0
started_secure_kafka=0
started_redis=0
secure=${EVENTSCOPE_SECURE_KAFKA:-0}
cleanup() {
  local status=$?
  if [[ $started_kafka == 1 ]]; then EVENTSCOPE_KAFKA_DIR=$RUN/kafka-test "$ROOT/dev/kafka.sh" stop || true; fi
  if [[ $started_secure_kafka == 1 ]]; then EVENTSCOPE_KAFKA_DIR=$RUN/kafka-secure-test "$ROOT/dev/kafka.sh" stop || true; fi
  if [[ $started_redis == 1 ]]; then stop_redis redis-test; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  if [[ $secure == 1 ]]; then
    log "starting a test Kafka broker (with secured listeners)"
    KAFKA_BOOTSTRAP_SERVERS=$(EVENTSCOPE_KAFKA_DIR=$RUN/kafka-test "$ROOT/dev/kafka.sh" start --secure)
    export EVENTSCOPE_TEST_KAFKA_SECURE_ENV=${EVENTSCOPE_TEST_KAFKA_SECURE_ENV:-$RUN/kafka-test/secure.env}
  else
    log "starting a test Kafka broker"
    KAFKA_BOOTSTRAP_SERVERS=$(EVENTSCOPE_KAFKA_DIR=$RUN/kafka-test "$ROOT/dev/kafka.sh" start)
  fi
  export KAFKA_BOOTSTRAP_SERVERS
  started_kafka=1
elif [[ $secure == 1 && -z ${EVENTSCOPE_TEST_KAFKA_SECURE_ENV:-} ]]; then
  log "starting a Kafka broker with secured listeners for the secured-cluster tests"
  EVENTSCOPE_KAFKA_DIR=$RUN/kafka-secure-test "$ROOT/dev/kafka.sh" start --secure >/dev/null
  started_secure_kafka=1
  export EVENTSCOPE_TEST_KAFKA_SECURE_ENV=$RUN/kafka-secure-test/secure.env
fi
if [[ -z ${REDIS_URL:-} ]]; then
  log "starting a test Redis"
  REDIS_URL=$(start_redis redis-test)
  export REDIS_URL
  started_redis=1
fi

log "running $* (Kafka $KAFKA_BOOTSTRAP_SERVERS, Redis $REDIS_URL, database $(sed -E "s#://[^@/]*@#://***@#" <<<"${DATABASE_URL:-SQLite}"))"
"$@"
