#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the relay's PostgreSQL tests and for local runs.
#
#   Tools/postgres.sh start [DIR]   start (installing PostgreSQL with apt-get if needed);
#                                   prints postgres://postgres@127.0.0.1:PORT/concord_test
#                                   as the last line of stdout. Idempotent.
#   Tools/postgres.sh stop  [DIR]   stop the cluster and delete its directory.
#   Tools/postgres.sh url   [DIR]   print the URL of the running cluster.
#
# DIR defaults to $CONCORD_PG_DIR or ${TMPDIR:-/tmp}/concord-postgres. The port is
# $CONCORD_PG_PORT or 55432, or the next free one above it. The cluster listens on
# 127.0.0.1 only, trusts every local connection (no password) and is owned by the
# `postgres` user when run as root (the server refuses to run as root).
# Non-interactive: safe under CI=true with no stdin.
#
#   export CONCORD_TEST_POSTGRES_URL=$(Tools/postgres.sh start | tail -n 1)
#   swift test --skip-build --filter PostgresRelayStorage
#   Tools/postgres.sh stop
set -euo pipefail

command_name=${1:-}
dir=${2:-${CONCORD_PG_DIR:-${TMPDIR:-/tmp}/concord-postgres}}
base_port=${CONCORD_PG_PORT:-55432}
database=concord_test

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Finds initdb/pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin.
find_bin() {
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    local candidate
    candidate=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$candidate" && -x "$candidate/pg_ctl" && -x "$candidate/initdb" ]]; then
        echo "$candidate"
        return 0
    fi
    return 1
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available; install PostgreSQL (initdb, pg_ctl) and retry"
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "PostgreSQL is not installed; run as root or install it"
        sudo="sudo -n"
    fi
    log "installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq </dev/null >&2
    $sudo apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib </dev/null >&2
}

# Runs a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

is_running() { [[ -f "$dir/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; }

url() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/concord-port")/$database"; }

wait_ready() {
    local port=$1
    for _ in $(seq 1 100); do
        if as_owner "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    die "the server on port $port did not become ready; see $dir/server.log"
}

start() {
    if ! bin=$(find_bin); then
        install_postgres
        bin=$(find_bin) || die "PostgreSQL was installed but initdb/pg_ctl were not found"
    fi
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        log "creating the postgres user"
        useradd --system --no-create-home --shell /bin/sh postgres
    fi

    if is_running; then
        wait_ready "$(cat "$dir/concord-port")"
        log "already running in $dir"
        url
        return 0
    fi

    if [[ ! -f "$dir/PG_VERSION" ]]; then
        [[ -e "$dir" && -n "$(ls -A "$dir" 2>/dev/null)" ]] && die "$dir exists and is not a PostgreSQL cluster; pass another directory"
        mkdir -p "$dir"
        [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
        chmod 700 "$dir"
        as_owner test -w "$dir" -a -x "$dir" \
            || die "the postgres user cannot reach $dir (a parent directory is private to $(id -un)); use a directory under /tmp"
        log "creating a cluster in $dir"
        as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null </dev/null
        touch "$dir/concord-cluster"
    fi

    local port=$base_port
    while port_in_use "$port"; do
        port=$((port + 1))
        [[ $port -gt $((base_port + 100)) ]] && die "no free port in $base_port…$((base_port + 100))"
    done
    echo "$port" | as_owner tee "$dir/concord-port" >/dev/null

    log "starting on 127.0.0.1:$port"
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start </dev/null >&2 \
        || die "the server did not start; see $dir/server.log"
    wait_ready "$port"

    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$database'" </dev/null | grep -q 1; then
        as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE $database" </dev/null >&2
    fi
    url
}

stop() {
    bin=$(find_bin) || { log "PostgreSQL is not installed; nothing to stop"; return 0; }
    if is_running; then
        as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop </dev/null >&2
        log "stopped"
    else
        log "not running in $dir"
    fi
    if [[ -f "$dir/concord-cluster" ]]; then rm -rf "$dir"; fi
}

case "$command_name" in
    start) start ;;
    stop) stop ;;
    url)
        bin=$(find_bin) || die "PostgreSQL is not installed"
        is_running || die "no cluster running in $dir; run Tools/postgres.sh start"
        url
        ;;
    *) die "usage: Tools/postgres.sh start|stop|url [DIR]" ;;
esac
