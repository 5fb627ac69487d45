#!/usr/bin/env bash
# Issue 19: the REST comparison of ../shared/bench/rest-vs-bare.sh read as CPU time per request
# instead of requests per second. On a VM whose host takes the CPU away now and then (steal
# time), throughput swings by a third from one round to the next and so does its ratio; the
# CPU time a server spent per request (user + system, all its threads, from /proc/PID/stat)
# does not count the stolen time. Same setup: a service fresh from `rustctl api new` (its own
# config) and bare axum, both on core 0 with one tokio worker, wrk on core 1, rounds alternating
# which goes first. Prints each round and the median ratio bare/generated, which reads like
# rest-vs-bare's generated/bare throughput ratio.
#
# usage: rest-cpu.sh [PROJECT_ROOT] [BARE_AXUM_DIR]
#   (defaults: the current directory, and ../shared/bench/bare-axum beside the project root)
# env:   ROUNDS (7), SECS (5), BENCH_TARGET (cargo target dir, /tmp/rest-cpu-target)
# needs: wrk (Debian package), taskset, curl, python3
set -euo pipefail
root=$(cd "${1:-.}" && pwd)
bare_src=$(cd "${2:-$root/../shared/bench/bare-axum}" && pwd)
rounds=${ROUNDS:-7} secs=${SECS:-5}
command -v wrk >/dev/null || { echo "install wrk (apt-get install -y wrk)" >&2; exit 2; }
work=$(mktemp -d); trap 'kill ${pids:-} 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/rest-cpu-target}

. "$(dirname "$0")/fresh-rest.sh"
. "$(dirname "$0")/cpu-rounds.sh"
fresh_rest_service
(cd "$bare_src" && cargo build --release -q)

(cd "$work/perfsvc" && TOKIO_WORKER_THREADS=1 exec taskset -c 0 "$CARGO_TARGET_DIR/release/perfsvc-api" -f "$cfg" >/dev/null 2>&1) &
gen_pid=$!
(PORT=18081 exec taskset -c 0 "$CARGO_TARGET_DIR/release/bare-axum") &
bare_pid=$!
pids="$gen_pid $bare_pid"
gen=http://127.0.0.1:18932/from/you bare=http://127.0.0.1:18081/from/you
wait_for_200 $gen $bare
# Requests answered while wrk loads `url` for SECS seconds.
requests() { taskset -c 1 wrk -t1 -c64 -d"${secs}s" "$1" | awk '/requests in/ {print $1}'; }
cpu_rounds requests request $gen_pid $gen $bare_pid $bare
