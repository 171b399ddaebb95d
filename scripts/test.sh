#!/usr/bin/env bash
# scripts/test.sh [suite-filter...] — everything CI runs, in order, on this machine:
#
#   setup                       scripts/setup.sh (packages, npm ci, web/vendor); a failure stops here
#   build release, build asan   scripts/build.sh <preset>
#   unit release, unit asan     ctest --preset <preset>
#   integration release         node --test tests/integration/   (ENCKE_BIN=build/release/encke)
#   integration asan            node --test tests/integration/   (ENCKE_BIN=build/asan/encke)
#   interop                     node --test tests/interop/       (release binary)
#   browser                     node --test tests/browser/       (release binary, headless Chromium)
#   bridge release, bridge asan node --test tests/bridge/        (real ActiveMQ and RabbitMQ, started
#                               and stopped by the tests on free loopback ports: scripts/brokers.sh)
#   embed                       node --test tests/embed/         (cmake --install of the release build,
#                               examples/embed built against it, run and driven by the CometD client)
#   bench smoke                 node --test tests/bench/         (encke-bench against the release binary:
#                               messages arrive, none lost; never a timing)
#
# Every suite runs even when an earlier one failed (a suite whose binary failed to build is reported
# as failed, not run against a stale binary). The end is a table (suite, result, tests passed/failed,
# seconds) and a last line "N passed, N failed" that counts TEST CASES (a failed suite without
# counts, such as a build, adds one failure). Exit status 0 only if every suite passed.
# A suite with zero tests counts as failed: an empty suite proves nothing.
#
# Arguments, if any, select suites by substring ("browser", "asan", "integration release"); the builds
# those suites need are added automatically. Logs: test-artifacts/logs/<suite>.log (+ .tap for node).
# Env: ENCKE_SUITE_TIMEOUT (seconds per test suite, default 1200), ENCKE_BUILD_TIMEOUT (default 5400),
#      ENCKE_NO_BUILD=1 (do not build: a build suite passes if build/<preset>/encke already exists).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$PWD
LOGS=$ROOT/test-artifacts/logs
SUITE_TIMEOUT=${ENCKE_SUITE_TIMEOUT:-1200}
BUILD_TIMEOUT=${ENCKE_BUILD_TIMEOUT:-5400}

say() { printf '\n==> %s\n' "$*"; }

ALL_SUITES=("build release" "build asan" "unit release" "unit asan"
            "integration release" "integration asan" "interop" "browser" "bridge release" "bridge asan"
            "embed" "bench smoke")

# Which build each suite needs.
needs() {
    case $1 in
        "build "*) ;;
        *asan) echo "build asan" ;;
        *) echo "build release" ;;
    esac
}

selected=()
if (($# == 0)); then
    selected=("${ALL_SUITES[@]}")
else
    for s in "${ALL_SUITES[@]}"; do
        for f in "$@"; do
            if [[ $s == *"$f"* ]]; then
                selected+=("$s")
                break
            fi
        done
    done
    # Add the builds the chosen suites depend on (keeping the canonical order).
    wanted=" "
    for s in "${selected[@]}"; do wanted+="$s|$(needs "$s")|"; done
    selected=()
    for s in "${ALL_SUITES[@]}"; do
        [[ $wanted == *"$s|"* ]] && selected+=("$s")
    done
    ((${#selected[@]})) || { echo "test: no suite matches: $*" >&2; exit 2; }
fi

mkdir -p "$LOGS"

# Results, indexed like the order suites were run.
names=() results=() counts=() durations=()
declare -A status_of=()

record() {  # name result counts seconds
    names+=("$1") results+=("$2") counts+=("$3") durations+=("$4")
    status_of[$1]=$2
}

logname() { echo "$LOGS/${1// /-}"; }

# run_logged NAME TIMEOUT CMD... — runs CMD with output to the console and the suite log, bounded by
# TIMEOUT seconds. `timeout` puts CMD in a process group of its own (pgid = its pid, recorded in a
# file); that group is what Ctrl-C / SIGTERM of this script stops, and whatever of it is still alive
# once CMD has exited (a leaked server or browser) is reported and stopped before the next suite.
CURRENT_PIDFILE=
run_logged() {
    local name=$1 limit=$2
    shift 2
    local log rcfile pgid tee_pid rc
    log="$(logname "$name").log"
    rcfile="$log.rc" CURRENT_PIDFILE="$log.pid"
    rm -f "$rcfile" "$CURRENT_PIDFILE"
    { bash -c 'echo $$ >"$0"; exec "$@"' "$CURRENT_PIDFILE" timeout --kill-after=30 "$limit" "$@"
      echo $? >"$rcfile"; } 2>&1 | tee "$log" &
    tee_pid=$!
    # Short sleeps in the background so that a signal's trap runs at once.
    while [[ ! -s $rcfile ]] && kill -0 "$tee_pid" 2>/dev/null; do sleep 0.5 & wait $!; done
    rc=$(cat "$rcfile" 2>/dev/null || echo 1)
    pgid=$(cat "$CURRENT_PIDFILE" 2>/dev/null || true)
    if [[ -n $pgid ]] && kill -0 -- "-$pgid" 2>/dev/null; then
        echo "test: $name left processes running (process group $pgid); stopping them" | tee -a "$log"
        kill -TERM -- "-$pgid" 2>/dev/null
        sleep 2
        kill -KILL -- "-$pgid" 2>/dev/null
    fi
    # tee ends at EOF; a leftover outside the group could hold the pipe open, so bound the wait.
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$tee_pid" 2>/dev/null || break; sleep 0.5; done
    kill "$tee_pid" 2>/dev/null
    wait "$tee_pid" 2>/dev/null
    CURRENT_PIDFILE=
    rm -f "$rcfile" "$log.pid"
    ((rc == 124)) && echo "test: $name timed out after ${limit}s" | tee -a "$log"
    return "$rc"
}

on_signal() {
    local pgid
    pgid=$(cat "$CURRENT_PIDFILE" 2>/dev/null || true)
    [[ -n $pgid ]] && kill -TERM -- "-$pgid" 2>/dev/null
    echo "test: interrupted" >&2
    exit 130
}
trap on_signal INT TERM

run_build() {
    local name=$1 preset=${1#build }
    local start=$SECONDS
    say "$name"
    if [[ ${ENCKE_NO_BUILD:-0} == 1 ]]; then
        if [[ -x build/$preset/encke ]]; then
            echo "test: ENCKE_NO_BUILD=1, using existing build/$preset/encke" | tee "$(logname "$name").log"
            record "$name" PASS "prebuilt" 0
        else
            echo "test: ENCKE_NO_BUILD=1 but build/$preset/encke does not exist" | tee "$(logname "$name").log"
            record "$name" FAIL "missing" 0
        fi
        return
    fi
    if run_logged "$name" "$BUILD_TIMEOUT" bash scripts/build.sh "$preset"; then
        record "$name" PASS "-" $((SECONDS - start))
    else
        record "$name" FAIL "-" $((SECONDS - start))
    fi
}

run_ctest() {
    local name=$1 preset=${1#unit }
    local start=$SECONDS log
    log="$(logname "$name").log"
    say "$name: ctest --preset $preset"
    if [[ ${status_of["build $preset"]:-} != PASS ]]; then
        echo "test: not run, build $preset did not pass" | tee "$log"
        record "$name" FAIL "not run" 0
        return
    fi
    local rc=0
    run_logged "$name" "$SUITE_TIMEOUT" ctest --preset "$preset" --output-on-failure --no-tests=error || rc=$?
    # "100% tests passed, 0 tests failed out of 42"
    local line total failed c="?"
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
    if [[ -n $line ]]; then
        total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
        failed=$(sed -E 's/.*, ([0-9]+) tests? failed.*/\1/' <<<"$line")
        c="$((total - failed))/$failed"
        ((total == 0)) && rc=1
    fi
    if ((rc == 0)); then
        record "$name" PASS "$c" $((SECONDS - start))
    else
        record "$name" FAIL "$c" $((SECONDS - start))
    fi
}

run_node() {
    local name=$1 dir=$2 bin=$3 build=$4
    local start=$SECONDS log tap
    log="$(logname "$name").log"
    tap="$(logname "$name").tap"
    rm -f "$tap"
    say "$name: node --test $dir (ENCKE_BIN=$bin)"
    if [[ ${status_of[$build]:-} != PASS ]]; then
        echo "test: not run, $build did not pass" | tee "$log"
        record "$name" FAIL "not run" 0
        return
    fi
    local rc=0
    ENCKE_BIN=$ROOT/$bin run_logged "$name" "$SUITE_TIMEOUT" \
        node --test --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" "$dir" || rc=$?
    local pass=0 fail=0 cancelled=0
    if [[ -f $tap ]]; then
        pass=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -1)
        fail=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -1)
        cancelled=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$tap" | tail -1)
    fi
    pass=${pass:-0} fail=$((${fail:-0} + ${cancelled:-0}))
    if ((pass + fail == 0)); then
        echo "test: $name found no tests in $dir" | tee -a "$log"
        rc=1
    fi
    if ((rc == 0)); then
        record "$name" PASS "$pass/$fail" $((SECONDS - start))
    else
        record "$name" FAIL "$pass/$fail" $((SECONDS - start))
    fi
}

# ---------------------------------------------------------------- run
total_start=$SECONDS
say "setup"
if ! bash scripts/setup.sh; then
    echo "test: setup failed; nothing was built or tested" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

for s in "${selected[@]}"; do
    case $s in
        "build "*) run_build "$s" ;;
        "unit "*) run_ctest "$s" ;;
        "integration release") run_node "$s" tests/integration/ build/release/encke "build release" ;;
        "integration asan") run_node "$s" tests/integration/ build/asan/encke "build asan" ;;
        interop) run_node "$s" tests/interop/ build/release/encke "build release" ;;
        browser) run_node "$s" tests/browser/ build/release/encke "build release" ;;
        "bridge release") run_node "$s" tests/bridge/ build/release/encke "build release" ;;
        "bridge asan") run_node "$s" tests/bridge/ build/asan/encke "build asan" ;;
        embed) run_node "$s" tests/embed/ build/release/encke "build release" ;;
        "bench smoke") run_node "$s" tests/bench/ build/release/encke "build release" ;;
    esac
done

# ---------------------------------------------------------------- summary
passed=0 failed=0 tests_passed=0 tests_failed=0
echo
echo "Summary (tests = passed/failed test cases; logs in test-artifacts/logs/)"
printf '%-22s %-7s %-10s %8s\n' suite result tests seconds
printf '%-22s %-7s %-10s %8s\n' ---------------------- ------- ---------- --------
for i in "${!names[@]}"; do
    printf '%-22s %-7s %-10s %8s\n' "${names[$i]}" "${results[$i]}" "${counts[$i]}" "${durations[$i]}"
    if [[ ${results[$i]} == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    if [[ ${counts[$i]} =~ ^([0-9]+)/([0-9]+)$ ]]; then
        tests_passed=$((tests_passed + BASH_REMATCH[1]))
        tests_failed=$((tests_failed + BASH_REMATCH[2]))
    fi
    # A failed suite without a count of its own (a build, a crash) still counts as one failure.
    if [[ ${results[$i]} != PASS ]] && ! [[ ${counts[$i]} =~ /[1-9] ]]; then
        tests_failed=$((tests_failed + 1))
    fi
done
printf 'total %d s; suites: %d passed, %d failed; test cases below\n' $((SECONDS - total_start)) "$passed" "$failed"
echo "$tests_passed passed, $tests_failed failed"
((failed == 0))
