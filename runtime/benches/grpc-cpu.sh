#!/usr/bin/env bash
# Issue 19: the gRPC comparison of ../shared/bench/grpc-vs-bare.sh read as CPU time per call
# instead of calls per second, for the reason rest-cpu.sh gives: on a VM whose host takes the
# CPU away now and then, throughput and its ratio swing from one round to the next (a round
# where bare tonic answers fewer calls than the generated service is common then), while the
# CPU time a server spends per call (user + system, all its threads, from /proc/PID/stat) does
# not count the stolen time. Same setup: a service fresh from `rustctl rpc new` (its own config)
# and bare tonic, both on core 0 with one tokio worker, h2load on core 1 sending unary
# `ledger.Ledger/Ping` calls on 64 connections, rounds alternating which goes first. Prints each
# round and the median ratio bare/generated, which reads like grpc-vs-bare's ratio.
#
# usage: grpc-cpu.sh [PROJECT_ROOT] [BARE_TONIC_DIR]
#   (defaults: the current directory, and ../shared/bench/bare-tonic beside the project root)
# env:   ROUNDS (7), SECS (5), BENCH_TARGET (cargo target dir, /tmp/grpc-cpu-target)
# needs: h2load (Debian package nghttp2-client), taskset, python3
set -euo pipefail
root=$(cd "${1:-.}" && pwd)
bare_src=$(cd "${2:-$root/../shared/bench/bare-tonic}" && pwd)
rounds=${ROUNDS:-7} secs=${SECS:-5}
command -v h2load >/dev/null || { echo "install h2load (apt-get install -y nghttp2-client)" >&2; exit 2; }
work=$(mktemp -d); trap 'kill ${pids:-} 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/grpc-cpu-target}
. "$(dirname "$0")/cpu-rounds.sh"

(cd "$root" && cargo build --release -q -p rustctl)
(cd "$work" && "$CARGO_TARGET_DIR/release/rustctl" rpc new ledger >/dev/null)
cfg=$(ls "$work"/ledger/etc/*.yaml | head -1)
sed -i 's/^ListenOn: .*/ListenOn: 127.0.0.1:18942/' "$cfg"
(cd "$work/ledger" && cargo build --release -q)
(cd "$bare_src" && cargo build --release -q)
exe=$(find "$CARGO_TARGET_DIR/release" -maxdepth 1 -type f -executable -name 'ledger*' | head -1)

(cd "$work/ledger" && TOKIO_WORKER_THREADS=1 exec taskset -c 0 "$exe" -f "$cfg" >/dev/null 2>&1) &
gen_pid=$!
(PORT=18090 exec taskset -c 0 "$CARGO_TARGET_DIR/release/bare-tonic") &
bare_pid=$!
pids="$gen_pid $bare_pid"
for port in 18942 18090; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
python3 -c "import struct,sys; m=b'\x0a\x02hi'; sys.stdout.buffer.write(b'\x00'+struct.pack('>I',len(m))+m)" > "$work/ping.bin"
gen=http://127.0.0.1:18942/ledger.Ledger/Ping bare=http://127.0.0.1:18090/ledger.Ledger/Ping
# Calls answered while h2load calls `url` for SECS seconds; none may fail.
calls() {
  local n failed
  read -r n failed < <(taskset -c 1 h2load -D "$secs" -c 64 -m 1 -t 1 -d "$work/ping.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$1" 2>/dev/null |
    awk '/^requests:/ {print $8, $10}')
  [ "$failed" = 0 ] || { echo "$1: $failed failed calls" >&2; exit 1; }
  echo "$n"
}
cpu_rounds calls call $gen_pid $gen $bare_pid $bare
