# Shared shell helpers of dev/test.sh and dev/demo.sh (sourced, not run).
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VENV=$ROOT/.venv
PY=$VENV/bin/python
RUN=${EVENTSCOPE_RUN_DIR:-$ROOT/.run}  # state, logs, the SQLite file (settings.py reads the same variable)
mkdir -p "$RUN"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/${1}/${2}") 2>/dev/null; }

# apt-get install, only when running as root and the packages are missing.
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    log "please install: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})"
    return 1
  fi
  log "installing ${missing[*]} from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The virtualenv with the locked dependencies; reinstalled when requirements.lock changes.
ensure_venv() {
  local stamp=$VENV/.installed-lock
  if [[ -x $PY && -f $stamp ]] && cmp -s "$ROOT/requirements.lock" "$stamp"; then
    return 0
  fi
  log "creating the virtualenv in .venv with the locked dependencies"
  [[ -x $PY ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >&2
  "$VENV/bin/pip" install -q --require-virtualenv -r "$ROOT/requirements.lock" >&2
  cp "$ROOT/requirements.lock" "$stamp"
}

# Start a private redis-server (daemonized) on a port; prints its URL. $1: state dir name.
start_redis() {
  local name=$1 port=${2:-}
  apt_install redis-server
  [[ -n $port ]] || port=$(free_port)
  local dir=$RUN/$name
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no >&2
  for _ in $(seq 1 50); do port_open 127.0.0.1 "$port" && break; sleep 0.1; done
  port_open 127.0.0.1 "$port" || { log "redis did not start; see $dir/redis.log"; return 1; }
  echo "redis://127.0.0.1:$port/0"
}

stop_redis() {
  local pidfile=$RUN/$1/redis.pid
  [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
}

# Debian's Chromium drives the browser tests (Playwright's own browser download is not used).
ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}
