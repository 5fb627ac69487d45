#!/usr/bin/env bash
# Issue 19, item 5: the REST comparison of ../shared/bench/rest-vs-bare.sh with two tokio workers
# on two cores. A service fresh from `rustctl api new` (its own config) against bare axum serving
# the same route, both with TOKIO_WORKER_THREADS=2 and not pinned, and wrk with two threads on
# the same two cores: the load generator competes with the server for the CPU, so read the
# ratio, not the rates. Rounds alternate which server goes first; prints the median ratio.
#
# usage: rest-scaling.sh [PROJECT_ROOT] [BARE_AXUM_DIR]
#   (defaults: the current directory, and ../shared/bench/bare-axum beside the project root)
# env:   ROUNDS (5), SECS (5), BENCH_TARGET (cargo target dir, /tmp/rest-scaling-target)
# needs: wrk (Debian package), curl, python3
set -euo pipefail
root=$(cd "${1:-.}" && pwd)
bare_src=$(cd "${2:-$root/../shared/bench/bare-axum}" && pwd)
rounds=${ROUNDS:-5} secs=${SECS:-5} workers=2
command -v wrk >/dev/null || { echo "install wrk (apt-get install -y wrk)" >&2; exit 2; }
work=$(mktemp -d); trap 'kill ${pids:-} 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/rest-scaling-target}

. "$(dirname "$0")/fresh-rest.sh"
fresh_rest_service
# bare axum pins itself to one worker; this copy takes the worker count from the environment.
cp -r "$bare_src" "$work/bare-axum" && rm -rf "$work/bare-axum/target"
sed -i 's/\.worker_threads(1)//' "$work/bare-axum/src/main.rs"
(cd "$work/bare-axum" && cargo build --release -q)

(cd "$work/perfsvc" && TOKIO_WORKER_THREADS=$workers exec "$CARGO_TARGET_DIR/release/perfsvc-api" -f "$cfg" >/dev/null 2>&1) &
pids=$!
(PORT=18081 TOKIO_WORKER_THREADS=$workers exec "$CARGO_TARGET_DIR/release/bare-axum") &
pids="$pids $!"
gen=http://127.0.0.1:18932/from/you bare=http://127.0.0.1:18081/from/you
wait_for_200 $gen $bare
rps() { wrk -t$workers -c64 -d"${secs}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
ratios=""
for i in $(seq "$rounds"); do
  if [ $((i % 2)) = 1 ]; then g=$(rps $gen); b=$(rps $bare); else b=$(rps $bare); g=$(rps $gen); fi
  r=$(python3 -c "print(round($g/$b, 3))")
  echo "round $i: generated $g req/s, bare $b req/s, ratio $r"
  ratios="$ratios $r"
done
echo "median ratio ($workers workers, wrk on the same cores): $(echo $ratios | tr ' ' '\n' | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")"
