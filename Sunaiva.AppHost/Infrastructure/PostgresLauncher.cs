namespace Sunaiva.AppHost.Infrastructure;

/// <summary>The bash script that initialises (once) and runs Postgres as the postgres user.</summary>
internal static class PostgresLauncher
{
    // Args: $1 data folder, $2 port, $3 postgres bin folder, $4 fast|durable.
    // The superuser password comes from the environment and is set again at every start (single-user
    // mode), so a kept data folder follows a changed AppHost parameter instead of refusing logins.
    public const string Script = """
        set -euo pipefail
        data="$1"; port="$2"; bin="$3"; durability="$4"
        as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
        mkdir -p "$data"
        chown postgres:postgres "$data"
        chmod 700 "$data"
        if [ ! -s "$data/PG_VERSION" ]; then
          pwfile="$(mktemp)"
          printf '%s' "$PG_SUPERUSER_PASSWORD" > "$pwfile"
          chown postgres "$pwfile"
          as_pg "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
          rm -f "$pwfile"
        else
          escaped="${PG_SUPERUSER_PASSWORD//\'/\'\'}"
          printf "ALTER USER postgres PASSWORD '%s';\n" "$escaped" | as_pg "$bin/postgres" --single -D "$data" -j postgres >/dev/null
        fi
        extra=()
        # fast skips fsync (an OS crash may lose data) but keeps synchronous commit: a commit acknowledged before
        # the postgres process is killed is in the kernel's cache and survives.
        if [ "$durability" = "fast" ]; then
          extra=(-c fsync=off -c full_page_writes=off)
        fi
        # Memory sized to the machine as Postgres's tuning guide advises (shared_buffers a quarter of RAM, here at most
        # 4 GB; the planner told that the OS caches most of the rest): the default 128 MB holds little of a vault's search
        # indexes, so a search read them from the OS cache after any large scan. Tests keep the default (LocalServers).
        mem_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))
        shared_mb=$(( mem_mb / 4 )); if [ "$shared_mb" -gt 4096 ]; then shared_mb=4096; fi; if [ "$shared_mb" -lt 128 ]; then shared_mb=128; fi
        extra+=(-c "shared_buffers=${shared_mb}MB" -c "effective_cache_size=$(( mem_mb * 3 / 4 ))MB")
        unset PG_SUPERUSER_PASSWORD
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$data" -p "$port" \
          -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300 "${extra[@]}"
        """;
}
