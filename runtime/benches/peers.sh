#!/usr/bin/env bash
# Peers, side by side in one run (issue 19): the same route, `GET /from/{name}` -> JSON, on
#   bare    bare axum, the ceiling (shared/bench/bare-axum)
#   ours    a service freshly made by `rustctl api new perfsvc`, its own config (Host 127.0.0.1),
#           its full default stack, exactly as shared/bench/rest-vs-bare.sh makes it (its logic
#           is the generated stub, so it answers {"message":""}; the others "hello you")
#   rs-zero rs-zero's REST server with its default layers and config (peers/rs-zero/)
#   rust-zero  kevwan/rust-zero's REST server (crates.io `rust-zero-rest`) with its standard
#           stack (peers/rust-zero/); left out, with the reason, if it does not build
# All release builds with the same profile (fat LTO, one codegen unit). The same method as
# rest-vs-bare.sh: every server pinned to core 0 with one worker (TOKIO_WORKER_THREADS=1; one
# Actix worker for rust-zero), wrk pinned to core 1 (`wrk -t1 -c64 -d${SECS}s`), ROUNDS rounds
# in which every server is measured, the one that goes first rotating from round to round.
# Prints each round's req/s (and each server's ratio to bare axum in that round), then, for every
# server, the median of its per-round ratios to bare axum.
#
# usage: peers.sh [PROJECT_ROOT]   (default: the repository this script is in)
# env:   ROUNDS (5), SECS (5), BENCH_TARGET (cargo target dir, default /tmp/peers-target),
#        BARE_AXUM (default PROJECT_ROOT/../shared/bench/bare-axum), BUILD_NICE (10: builds run
#        under `nice -n BUILD_NICE`; the measurement does not)
# needs: wrk (Debian package), taskset, curl, python3 with PyYAML
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${1:-$here/../..}" && pwd)
rounds=${ROUNDS:-5} secs=${SECS:-5} nice=${BUILD_NICE:-10}
bare_dir=$(cd "${BARE_AXUM:-$root/../shared/bench/bare-axum}" && pwd)
command -v wrk >/dev/null || { echo "install wrk (apt-get install -y wrk)" >&2; exit 2; }
work=$(mktemp -d); trap 'kill ${pids:-} 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/peers-target}
bin=$CARGO_TARGET_DIR/release
build() { nice -n "$nice" cargo build --release -q "$@"; }

# Ports of their own, so that a rest-vs-bare.sh run (18932, 18081) can go on beside this one.
names=(bare ours rs-zero rust-zero)
declare -A port=([bare]=18951 [ours]=18952 [rs-zero]=18953 [rust-zero]=18954)

(cd "$root" && build -p rustctl)
(cd "$work" && "$bin/rustctl" api new perfsvc >/dev/null)
cfg="$work/perfsvc/etc/perfsvc-api.yaml"
python3 - "$cfg" "${port[ours]}" <<'PY'
import sys, yaml
p = sys.argv[1]; c = yaml.safe_load(open(p)) or {}
c['Port'] = int(sys.argv[2]); c['Host'] = '127.0.0.1'
yaml.safe_dump(c, open(p, 'w'))
PY
(cd "$work/perfsvc" && build)
(cd "$bare_dir" && build)
(cd "$here/peers/rs-zero" && build)
if ! (cd "$here/peers/rust-zero" && build) >"$work/rust-zero-build.log" 2>&1; then
  echo "rust-zero left out: its build failed:" >&2; tail -n 20 "$work/rust-zero-build.log" >&2
  names=(bare ours rs-zero)
fi

for n in "${names[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${port[$n]}") 2>/dev/null; then
    echo "port ${port[$n]} (for $n) is already taken" >&2; exit 1
  fi
done
# Every server's stdout (its logs) is discarded, as in rest-vs-bare.sh; stderr is kept to show
# why a server did not come up.
start() { # name, then the command
  local n=$1; shift
  (exec taskset -c 0 "$@" >/dev/null 2>"$work/$n.err") &
  pids="${pids:-} $!"; pid[$n]=$!
}
declare -A pid
start ours env TOKIO_WORKER_THREADS=1 "$bin/perfsvc-api" -f "$cfg"
start bare env PORT="${port[bare]}" TOKIO_WORKER_THREADS=1 "$bin/bare-axum"
start rs-zero env PORT="${port[rs-zero]}" TOKIO_WORKER_THREADS=1 "$bin/peer-rs-zero"
[[ " ${names[*]} " == *" rust-zero "* ]] && start rust-zero env PORT="${port[rust-zero]}" "$bin/peer-rust-zero"
declare -A url
for n in "${names[@]}"; do
  url[$n]=http://127.0.0.1:${port[$n]}/from/you
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:${port[$n]}/" && break; sleep 0.1; done
  kill -0 "${pid[$n]}" 2>/dev/null || { echo "$n exited:" >&2; cat "$work/$n.err" >&2; exit 1; }
  code=$(curl -s -o "$work/$n.body" -w '%{http_code}' "${url[$n]}") || true
  [ "$code" = 200 ] || { echo "$n: ${url[$n]} answers $code, not 200" >&2; cat "$work/$n.err" >&2; exit 1; }
  echo "$n: ${url[$n]} -> 200 $(head -c 200 "$work/$n.body")"
done

# req/s of one wrk run; a run with non-2xx answers or socket errors is reported (a server that
# sheds load answers fast, and those answers would count as requests).
rps() {
  local out; out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" "${url[$1]}")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "  warning: $1: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | paste -sd ';')" >&2
  fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
count=${#names[@]}
declare -A all
for i in $(seq "$rounds"); do
  declare -A r=()
  first=$(( (i - 1) % count ))
  for k in $(seq 0 $((count - 1))); do
    n=${names[$(( (first + k) % count ))]}
    r[$n]=$(rps "$n")
    [ -n "${r[$n]}" ] || { echo "wrk measured nothing for $n" >&2; exit 1; }
  done
  line="round $i:"
  for n in "${names[@]}"; do
    if [ "$n" = bare ]; then line="$line bare ${r[bare]} req/s,"
    else line="$line $n ${r[$n]} ($(python3 -c "print(round(${r[$n]}/${r[bare]}, 3))")),"; fi
    all[$n]="${all[$n]:-} ${r[$n]}"
  done
  echo "${line%,}   (first: ${names[$first]})"
done
python3 - "${names[@]}" <<PY
import statistics, sys
rps = {$(for n in "${names[@]}"; do printf "'%s': [%s], " "$n" "$(echo ${all[$n]} | tr ' ' ',')"; done)}
bare = rps['bare']
print("median req/s and median ratio to bare axum (median over rounds of each round's ratio):")
for n in sys.argv[1:]:
    ratios = [x / b for x, b in zip(rps[n], bare)]
    print(f"  {n:10} {statistics.median(rps[n]):>10.0f} req/s   ratio {statistics.median(ratios):.3f}")
PY
