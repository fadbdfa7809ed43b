#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the state tests; exports MISP_RECONCILER_TEST_PG_URL.
#
#   . .ci/postgres.sh          # from the repository root: starts (or reuses) the server, exports the URL
#   bash .ci/postgres.sh stop  # stops it
#
# Idempotent: a server left running by an earlier run (same data dir) is reused, a stale one restarted.
# Installs Debian's `postgresql` package when no server binaries are found and we are root.
# As root, the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
# Sourced by .ci/run, so no `set -e` here: failures return non-zero and the caller decides.

_pg_bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$found" ]; then echo "$found"; return 0; fi
    if command -v pg_ctl >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0; fi
    return 1
}

_pg_install() {
    [ "$(id -u)" = 0 ] || { echo "postgres.sh: no PostgreSQL found; install the 'postgresql' package" >&2; return 1; }
    echo "postgres.sh: installing PostgreSQL (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

_pg_as_owner() {  # run a command as the OS user that owns the server
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_pg_ready() {  # the server of this data dir accepts connections on its port within 5 s
    local port
    port=$(sed -n 4p "$2/postmaster.pid" 2>/dev/null) || return 1
    [ -n "$port" ] && "$1/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5
}

_pg_main() {
    local bindir data port db log
    bindir=$(_pg_bindir) || { _pg_install && bindir=$(_pg_bindir); } || return 1
    data=${MISP_RECONCILER_PG_DATA:-/tmp/misp-reconciler-pg-$(id -u)}
    log="$data.log"
    db=reconciler_test

    if [ "${1:-}" = stop ]; then
        _pg_as_owner "$bindir/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
        return 0
    fi

    if _pg_as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 && ! _pg_ready "$bindir" "$data"; then
        # A left-over that does not answer (killed, a zombie, or its port taken): clear it and start again.
        _pg_as_owner "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
        rm -f "$data/postmaster.pid"
    fi
    if ! _pg_as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        # Not running. A data dir from an older major version or a half-made one is thrown away.
        if [ ! -f "$data/PG_VERSION" ] || [ "$(cat "$data/PG_VERSION")" != "$("$bindir/postgres" -V | sed -E 's/.* ([0-9]+).*/\1/')" ]; then
            rm -rf "$data"
            mkdir -p "$data" && chmod 700 "$data"
            [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || _pg_as_owner true; chown postgres "$data"; }
            _pg_as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null || return 1
        fi
        port=$(_pg_free_port)
        touch "$log" && { [ "$(id -u)" != 0 ] || chown postgres "$log"; }
        # Throwaway data: durability off for speed. Socket in the data dir, not /var/run (may not exist).
        _pg_as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 30 start -o \
            "-p $port -c listen_addresses=127.0.0.1 -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null || { tail -n 20 "$log" >&2; return 1; }
    fi
    port=$(sed -n 4p "$data/postmaster.pid")

    if ! _pg_as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1; then
        _pg_as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db" || return 1
    fi
    export MISP_RECONCILER_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/$db"
    echo "export MISP_RECONCILER_TEST_PG_URL=$MISP_RECONCILER_TEST_PG_URL"
}

_pg_main "${1:-start}"
