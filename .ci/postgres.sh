# Sourced by .ci/run (and usable by hand: `source .ci/postgres.sh && start_postgres`).
# Starts a throw-away PostgreSQL server on a free loopback port and exports its URL as
# WHET_TEST_POSTGRES_URL; installs Debian's `postgresql` first if no server binaries exist.
# A URL already in WHET_TEST_POSTGRES_URL is used as it is.

whet_pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

stop_postgres() {
    if [ -n "${WHET_PG_DIR:-}" ] && [ -d "$WHET_PG_DIR/data" ]; then
        $WHET_PG_AS "$WHET_PG_BIN/pg_ctl" -D "$WHET_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$WHET_PG_DIR"
    fi
}

start_postgres() {
    if [ -n "${WHET_TEST_POSTGRES_URL:-}" ]; then
        echo "postgres: using WHET_TEST_POSTGRES_URL from the environment"
        return 0
    fi
    WHET_PG_BIN=$(whet_pg_bindir)
    if [ -z "$WHET_PG_BIN" ] || [ ! -x "$WHET_PG_BIN/initdb" ]; then
        local sudo=""
        if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
        echo "postgres: installing the Debian package postgresql"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
        WHET_PG_BIN=$(whet_pg_bindir)
    fi
    if [ -z "$WHET_PG_BIN" ]; then
        echo "postgres: no server binaries under /usr/lib/postgresql after installing" >&2
        return 1
    fi
    WHET_PG_DIR=$(mktemp -d /tmp/whet-pg.XXXXXX)
    # initdb refuses to run as root: run the server as the package's postgres user then.
    WHET_PG_AS=""
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$WHET_PG_DIR"
        WHET_PG_AS="runuser -u postgres --"
    fi
    local port=""
    for p in $(seq 55432 55532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
    done
    if [ -z "$port" ]; then
        echo "postgres: no free port in 55432-55532" >&2
        return 1
    fi
    $WHET_PG_AS "$WHET_PG_BIN/initdb" -D "$WHET_PG_DIR/data" -A trust -U whet -E UTF8 --no-sync >"$WHET_PG_DIR/initdb.log" 2>&1 ||
        { cat "$WHET_PG_DIR/initdb.log" >&2; return 1; }
    # fsync off: a test server's data is thrown away anyway.
    $WHET_PG_AS "$WHET_PG_BIN/pg_ctl" -D "$WHET_PG_DIR/data" -l "$WHET_PG_DIR/server.log" -w -t 60 \
        -o "-p $port -k $WHET_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null ||
        { cat "$WHET_PG_DIR/server.log" >&2; return 1; }
    $WHET_PG_AS "$WHET_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U whet whet_test
    export WHET_TEST_POSTGRES_URL="postgres://whet@127.0.0.1:$port/whet_test"
    export WHET_PG_DIR WHET_PG_BIN WHET_PG_AS
    echo "postgres: $($WHET_PG_BIN/postgres --version) on $WHET_TEST_POSTGRES_URL"
}
