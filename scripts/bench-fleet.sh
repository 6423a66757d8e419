#!/usr/bin/env bash
# The fleet benchmark: `run --fleet` over N_SQLITE SQLite targets and N_PG PostgreSQL targets,
# total time against `--jobs`, next to a shell loop over the single-database command.
#
#   bash scripts/bench-fleet.sh
#
# Options, as variables: N_SQLITE (1000) SQLite targets; N_PG (100) PostgreSQL targets; JOBS
# ("1 2 4 8 16") the --jobs measured; RUNS (3) timed runs of each; BENCH_POSTGRES_URL (a server URL
# without a database, default postgres://postgres@127.0.0.1:5432; empty skips PostgreSQL);
# SQLITE_ROOT (target/bench/fleet) where the SQLite targets' directory goes (/dev/shm for tmpfs).
#
# It builds the demo binary (the example `upgrader` of upgrader-cli, release, with the workspace's
# example modules linked in) and, under target/bench/fleet/ (ignored by git), writes a targets file
# per backend: N_SQLITE SQLite files (made empty before each run, in SQLITE_ROOT/sqlite-targets/)
# and N_PG PostgreSQL databases bench_fleet_001 ... (dropped and created again before each run).
# Per backend, each a whole process, timed with the shell's clock (EPOCHREALTIME), its output to
# /dev/null (the fleet's stderr kept for the checks):
#   apply        every target from empty, all the example upgrades: `run --fleet --jobs J
#                --yes-i-know --log-file ''`, and the shell loop `while read u; do upgrader run
#                --database-url "$u" --yes-i-know --log-file '' >/dev/null 2>&1; done <targets`
#   up to date   the same again on the fleet with everything applied
#   status       `status --fleet --jobs J` on it, and a loop of `status --database-url "$u"`
# The runs are interleaved (loop, J = 1, 2, ... , then again, RUNS rounds) after one untimed
# warm-up run; the setup before each (the targets emptied, `sync` or a CHECKPOINT) is untimed.
# Then the peak RSS (/usr/bin/time -f %M, else getrusage) of the fleet runner at --jobs 8 and of
# one single-database run.
# Checks, so the figures are of real work: every timed command must exit 0 (for the loop: each
# single run; for `status`, 0 means every target is up to date); after each fleet run its summary
# must say every target was done, none failed, and how many upgrades were applied; after each
# apply, the history table of a few targets (the first, the middle, the last, one at random) must
# hold every upgrade, and all targets' before the up-to-date measures. A failed check stops the
# script. It prints a Markdown table per backend (median, min-max, per target, speed-ups) and
# asserts nothing about speed.
set -euo pipefail

N_SQLITE=${N_SQLITE:-1000}
N_PG=${N_PG:-100}
JOBS=${JOBS:-"1 2 4 8 16"}
RUNS=${RUNS:-3}
BENCH_POSTGRES_URL=${BENCH_POSTGRES_URL-postgres://postgres@127.0.0.1:5432}
RSS_JOBS=8
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN="$ROOT/target/bench/fleet"
SQLITE_DIR="${SQLITE_ROOT:-$GEN}/sqlite-targets"
BIN="$ROOT/target/release/examples/upgrader"
ERR="$GEN/last.err"
mkdir -p "$GEN"
cd "$GEN"

echo "building the demo binary (release) ..." >&2
(cd "$ROOT" && cargo build --release --quiet -p upgrader-cli --example upgrader) >&2 ||
    { echo "error: the demo binary did not build" >&2; exit 1; }
[ -x "$BIN" ] || { echo "error: $BIN is missing" >&2; exit 1; }

fail() { echo "error: $*" >&2; exit 1; }

# --- timing ---------------------------------------------------------------------------------------
# TIMES[KEY]: the wall seconds of each timed run of KEY, space separated.
declare -A TIMES

# `timed KEY CMD...`: runs CMD, stdout to /dev/null and stderr to $ERR; stops the script unless it
# exits 0; appends its wall time to TIMES[KEY].
timed() {
    local key=$1 t0 t1 rc=0
    shift
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>"$ERR" || rc=$?
    t1=$EPOCHREALTIME
    if [ "$rc" != 0 ]; then
        tail -n 20 "$ERR" >&2
        fail "\`$*\` exited $rc ($key): no figures"
    fi
    TIMES[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') "
}

# `loop TARGETS CMD...`: the single-database command once per target, as a user's shell loop
# does; each run must exit 0.
loop() {
    local targets=$1 u
    shift
    while read -r u; do
        "$BIN" "$@" --database-url "$u" >/dev/null 2>&1 || { echo "error: \`$* --database-url $u\` failed" >&2; return 1; }
    done <"$targets"
}

# `peak_kb CMD...`: runs CMD (output to /dev/null, must exit 0) and prints its peak RSS in KB.
peak_kb() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$GEN/rss" "$@" >/dev/null 2>"$ERR" || fail "\`$*\` failed (peak RSS)"
        tail -n 1 "$GEN/rss"
    else
        python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@" || fail "\`$*\` failed (peak RSS)"
    fi
}

plural() { if [ "$1" = 1 ]; then echo "1 $2"; else echo "$1 $2s"; fi; }

# `fleet_done N APPLIED`: the last fleet run's summary says N targets done, none failed, APPLIED
# upgrades applied.
fleet_done() {
    grep -q "^fleet: $(plural "$1" target) in .*: $1 done, 0 failed; $(plural "$2" upgrade) applied$" "$ERR" ||
        { tail -n 5 "$ERR" >&2; fail "the fleet's summary does not say $1 done, 0 failed, $2 applied"; }
}

# --- the table ------------------------------------------------------------------------------------
# `stats KEY`: min, median, max of TIMES[KEY].
stats() {
    tr ' ' '\n' <<<"${TIMES[$1]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[1], v[int(NR / 2) + 1], v[NR] }'
}

# `row MEASURE LABEL KEY N LOOP_KEY J1_KEY`: one Markdown row.
row() {
    local measure=$1 label=$2 key=$3 n=$4 loop_key=$5 j1_key=$6
    # shellcheck disable=SC2046 # three numbers
    awk -v m="$measure" -v l="$label" -v n="$n" $(stats "$key" | awk '{ printf "-v lo=%s -v med=%s -v hi=%s", $1, $2, $3 }') \
        -v loop="$(stats "$loop_key" | cut -d' ' -f2)" -v j1="$(stats "$j1_key" | cut -d' ' -f2)" '
        function t(x) { return x >= 10 ? sprintf("%.1f", x) : x >= 1 ? sprintf("%.2f", x) : sprintf("%.3f", x) }
        function ms(x) { x *= 1000; return x >= 10 ? sprintf("%.1f", x) : x >= 1 ? sprintf("%.2f", x) : sprintf("%.3f", x) }
        BEGIN { printf "| %s | %s | %s s (%s-%s) | %s ms | %.2fx | %.2fx |\n", m, l, t(med), t(lo), t(hi), ms(med / n), loop / med, j1 / med }'
}

# `table BACKEND N TITLE`: the figures of BACKEND (sqlite, pg) over N targets.
table() {
    local b=$1 n=$2 j
    echo
    echo "$3"
    echo
    echo "| measure | runner | total, median (min-max) | per target | vs shell loop | vs --jobs 1 |"
    echo "|---|---|---|---|---|---|"
    for what in apply uptodate status; do
        case $what in
            apply) m="apply, from empty" ;;
            uptodate) m="run, all applied" ;;
            status) m="status" ;;
        esac
        row "$m" "shell loop" "$b $what loop" "$n" "$b $what loop" "$b $what 1"
        for j in $JOBS; do
            row "$m" "--jobs $j" "$b $what $j" "$n" "$b $what loop" "$b $what 1"
        done
    done
}

# --- one backend ----------------------------------------------------------------------------------
# `measure BACKEND N TARGETS`: every figure of one backend; `reset_BACKEND` empties the targets
# (untimed), `count_BACKEND I` prints the history rows of target I, `verify_BACKEND` checks all.
measure() {
    local b=$1 n=$2 targets=$3 r j
    case " $JOBS " in *" 1 "*) ;; *) fail "JOBS must include 1 (the speed-ups are over --jobs 1)" ;; esac
    local fleet=("$BIN" run --fleet --targets "$targets" --yes-i-know --log-file '')
    # Warm-up, untimed (it also finds how many upgrades a target gets).
    "reset_$b"
    "${fleet[@]}" --jobs "${JOBS##* }" >/dev/null 2>"$ERR" || { tail -n 20 "$ERR" >&2; fail "the warm-up fleet run failed"; }
    UPGRADES=$("count_$b" 1)
    [ "$UPGRADES" -gt 0 ] || fail "the warm-up applied nothing"
    fleet_done "$n" $((n * UPGRADES))
    echo "$b: $n targets, $UPGRADES upgrades each" >&2
    # Apply from empty, interleaved rounds.
    for ((r = 1; r <= RUNS; r++)); do
        for j in loop $JOBS; do
            echo "  $b apply, round $r/$RUNS: $j" >&2
            "reset_$b"
            if [ "$j" = loop ]; then
                timed "$b apply loop" loop "$targets" run --yes-i-know --log-file ''
            else
                timed "$b apply $j" "${fleet[@]}" --jobs "$j"
                fleet_done "$n" $((n * UPGRADES))
            fi
            for i in 1 $(((n + 1) / 2)) "$n" $((RANDOM % n + 1)); do
                [ "$("count_$b" "$i")" = "$UPGRADES" ] || fail "$b target $i has $("count_$b" "$i") upgrades applied after $j, not $UPGRADES"
            done
        done
    done
    # Everything applied: every target checked, then the up-to-date run and status.
    "verify_$b" "$n"
    for ((r = 1; r <= RUNS; r++)); do
        echo "  $b up to date and status, round $r/$RUNS" >&2
        timed "$b uptodate loop" loop "$targets" run --yes-i-know --log-file ''
        for j in $JOBS; do
            timed "$b uptodate $j" "${fleet[@]}" --jobs "$j"
            fleet_done "$n" 0
        done
        timed "$b status loop" loop "$targets" status
        for j in $JOBS; do
            timed "$b status $j" "$BIN" status --fleet --targets "$targets" --jobs "$j"
        done
    done
    # Peak RSS at --jobs RSS_JOBS, and of one single-database run.
    "reset_$b"
    local apply_kb uptodate_kb status_kb single_kb
    apply_kb=$(peak_kb "${fleet[@]}" --jobs "$RSS_JOBS")
    fleet_done "$n" $((n * UPGRADES))
    uptodate_kb=$(peak_kb "${fleet[@]}" --jobs "$RSS_JOBS")
    status_kb=$(peak_kb "$BIN" status --fleet --targets "$targets" --jobs "$RSS_JOBS")
    "reset_$b"
    single_kb=$(peak_kb "$BIN" run --database-url "$(head -n 1 "$targets")" --yes-i-know --log-file '')
    RSS_LINE=$(awk -v a="$apply_kb" -v u="$uptodate_kb" -v s="$status_kb" -v one="$single_kb" -v j="$RSS_JOBS" 'BEGIN {
        printf "peak RSS of the fleet runner at --jobs %d: apply %.1f MB, run all applied %.1f MB, status %.1f MB; one single-database run: %.1f MB", j, a / 1024, u / 1024, s / 1024, one / 1024 }')
}

# --- SQLite ---------------------------------------------------------------------------------------
ST="$GEN/sqlite.targets"
for ((i = 1; i <= N_SQLITE; i++)); do printf 'sqlite://%s/t%04d.db\n' "$SQLITE_DIR" "$i"; done >"$ST"
reset_sqlite() {
    rm -rf "$SQLITE_DIR"
    mkdir -p "$SQLITE_DIR"
    (cd "$SQLITE_DIR" && for ((i = 1; i <= N_SQLITE; i++)); do printf 't%04d.db\0' "$i"; done | xargs -0 touch)
    sync
}
count_sqlite() { sqlite3 "$SQLITE_DIR/$(printf 't%04d.db' "$1")" 'SELECT count(*) FROM upgrade'; }
verify_sqlite() {
    local i c
    for ((i = 1; i <= $1; i++)); do
        c=$(count_sqlite "$i")
        [ "$c" = "$UPGRADES" ] || fail "SQLite target $i has $c upgrades applied, not $UPGRADES"
    done
}
mkdir -p "$SQLITE_DIR"
FSTYPE=$(df -P -T "$SQLITE_DIR" | awk 'NR == 2 { print $2 }')
KIND=$([ "$FSTYPE" = tmpfs ] && echo tmpfs || echo disk)
MACHINE="machine: $(nproc) cores, $(uname -sr); SQLite targets in $SQLITE_DIR: $KIND ($FSTYPE)"
echo "$MACHINE" >&2
measure sqlite "$N_SQLITE" "$ST"
SQLITE_RSS=$RSS_LINE
SQLITE_UPGRADES=$UPGRADES
rm -rf "$SQLITE_DIR"

# --- PostgreSQL -----------------------------------------------------------------------------------
if [ -n "$BENCH_POSTGRES_URL" ]; then
    # shellcheck source=scripts/services.sh
    . "$ROOT/scripts/services.sh" || fail "the database servers did not come up"
    S="${BENCH_POSTGRES_URL%/}"
    PT="$GEN/pg.targets"
    pg_name() { printf 'bench_fleet_%03d' "$1"; }
    for ((i = 1; i <= N_PG; i++)); do echo "$S/$(pg_name "$i")"; done >"$PT"
    psql_at() { psql -X -q -At -v ON_ERROR_STOP=1 "$S/$1" "${@:2}"; }
    MAX_CONN=$(psql_at postgres -c 'SHOW max_connections')
    PG_VERSION=$(psql_at postgres -c 'SHOW server_version')
    reset_pg() {
        for ((i = 1; i <= N_PG; i++)); do
            ((i > 1)) || echo 'SET client_min_messages = warning;'
            printf 'DROP DATABASE IF EXISTS %s;\nCREATE DATABASE %s;\n' "$(pg_name "$i")" "$(pg_name "$i")"
        done | psql_at postgres -o /dev/null
        psql_at postgres -c CHECKPOINT
    }
    count_pg() { psql_at "$(pg_name "$1")" -c 'SELECT count(*) FROM upgrade'; }
    verify_pg() {
        local i c
        for ((i = 1; i <= $1; i++)); do
            c=$(count_pg "$i")
            [ "$c" = "$UPGRADES" ] || fail "PostgreSQL target $i has $c upgrades applied, not $UPGRADES"
        done
    }
    echo "PostgreSQL $PG_VERSION at $S, max_connections $MAX_CONN" >&2
    measure pg "$N_PG" "$PT"
    PG_RSS=$RSS_LINE
    for ((i = 1; i <= N_PG; i++)); do echo "DROP DATABASE IF EXISTS $(pg_name "$i");"; done | psql_at postgres -o /dev/null
fi

# --- the figures ----------------------------------------------------------------------------------
echo
echo "$MACHINE"
echo "times: whole processes, wall clock, median of $RUNS interleaved runs (min-max); speed-ups are ratios of medians"
table sqlite "$N_SQLITE" "SQLite: $N_SQLITE targets on $KIND ($FSTYPE), $SQLITE_UPGRADES upgrades each"
echo
echo "$SQLITE_RSS"
if [ -n "$BENCH_POSTGRES_URL" ]; then
    table pg "$N_PG" "PostgreSQL $PG_VERSION (same machine): $N_PG databases, $UPGRADES upgrades each"
    echo
    echo "$PG_RSS"
fi
