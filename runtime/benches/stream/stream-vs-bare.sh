#!/usr/bin/env bash
# Server-streaming throughput as a user meets it: messages per second on `feed.Feed/Watch`
# (stream.proto: `rpc Watch(WatchRequest) returns (stream Event)`, small messages) from a service
# freshly made by `rustctl rpc new feed` with its proto replaced by stream.proto and regenerated
# (`rustctl rpc protoc`; its own config, its full default interceptor stack, release build), its
# Watch logic filled by fill_logic.py to send `count` Events into the generated `tx`, against bare
# tonic serving the same proto (bare-tonic-stream/) in its two idiomatic shapes:
#   - bare iter:    `tokio_stream::iter` over the events (no task, no channel): the ceiling;
#   - bare channel: a spawned task sending into `mpsc::channel(16)` + `ReceiverStream`, the shape
#                   (and capacity) the generated server glue uses, so generated/channel is the
#                   runtime's own cost and channel/iter the cost of streaming through a channel.
# All servers pinned to core 0 with one tokio worker (TOKIO_WORKER_THREADS=1); stream-client/
# pinned to core 1 reads STREAMS concurrent streams (one connection each) of COUNT events,
# reopening each stream when it ends, for SECS seconds. Rounds alternate the order of the
# servers. Prints each round (msgs/s; the server's CPU time and how busy core 0 was, in % of the
# round: a core busier than its server was shared with something else; how the streams ended,
# from the client) and the median ratios. The generated service's `Timeout` bounds unary calls
# only (as go-zero's), so each stream runs until its COUNT events are sent; a stream that ends
# otherwise is tallied by how it ended, and the client opens another.
#
# usage: stream-vs-bare.sh [PROJECT_ROOT]   (default: the checkout this script is in)
# env:   ROUNDS (5), SECS (5), STREAMS (8), COUNT (200000), WARM (1: seconds of warm-up per
#        server before the rounds, 0 for none), BENCH_TARGET (CARGO_TARGET_DIR for every build,
#        default /tmp/stream-vs-bare-target), GEN_PORT (18943), BARE_PORT (18091; the channel
#        server takes BARE_PORT+1), BARE_CHANNEL_CAP (the bare channel's capacity, default 16 as
#        in the generated glue)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${1:-$here/../../..}" && pwd)
rounds=${ROUNDS:-5} secs=${SECS:-5} streams=${STREAMS:-8} count=${COUNT:-200000} warm=${WARM:-1}
gen_port=${GEN_PORT:-18943} iter_port=${BARE_PORT:-18091}
chan_port=$((iter_port + 1))
command -v taskset >/dev/null || { echo "taskset is needed (Debian package util-linux)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 2; }
work=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/stream-vs-bare-target}

# The generated service, as a user makes it.
(cd "$root" && cargo build --release -q -p rustctl)
rustctl=$CARGO_TARGET_DIR/release/rustctl
(cd "$work" && "$rustctl" rpc new feed >/dev/null)
cp "$here/stream.proto" "$work/feed/feed.proto"
(cd "$work/feed" && "$rustctl" rpc protoc feed.proto --prune >/dev/null)
logic=$(grep -rl 'pub async fn watch' "$work/feed/src/logic")
python3 "$here/fill_logic.py" "$logic"
cfg=$(ls "$work"/feed/etc/*.yaml | head -1)
sed -i "s/^ListenOn: .*/ListenOn: 127.0.0.1:$gen_port/" "$cfg"
(cd "$work/feed" && cargo build --release -q)
exe=$(cd "$work/feed" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print([t["name"] for p in json.load(sys.stdin)["packages"] for t in p["targets"] if "bin" in t["kind"]][0])')
exe=$CARGO_TARGET_DIR/release/$exe
# The measuring stick and the load.
(cd "$here/bare-tonic-stream" && cargo build --release -q)
(cd "$here/stream-client" && cargo build --release -q)
bare=$CARGO_TARGET_DIR/release/bare-tonic-stream client=$CARGO_TARGET_DIR/release/stream-client

versions() { # Cargo.lock -> "tonic X h2 Y hyper Z"
  awk '/^name = / {n=$3} /^version = / {gsub(/"/, "", n); gsub(/"/, "", $3);
       if (n == "tonic" || n == "h2" || n == "hyper") v = v (v ? " " : "") n " " $3}
       END {print v}' "$1"
}
echo "generated: $(versions "$work/feed/Cargo.lock"); bare: $(versions "$here/bare-tonic-stream/Cargo.lock")"

(cd "$work/feed" && TOKIO_WORKER_THREADS=1 exec taskset -c 0 "$exe" -f "$cfg" >"$work/gen.log" 2>&1) &
gen_pid=$!
(PORT=$iter_port BARE_STREAM=iter TOKIO_WORKER_THREADS=1 exec taskset -c 0 "$bare") &
iter_pid=$!
(PORT=$chan_port BARE_STREAM=channel TOKIO_WORKER_THREADS=1 exec taskset -c 0 "$bare") &
chan_pid=$!
pids="$gen_pid $iter_pid $chan_pid"
for pp in "$gen_port:$gen_pid" "$iter_port:$iter_pid" "$chan_port:$chan_pid"; do
  port=${pp%:*} pid=${pp#*:}
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null || {
    echo "the server on port $port did not start" >&2
    [ "$pid" = "$gen_pid" ] && tail -20 "$work/gen.log" >&2
    exit 1
  }
done

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # user+system, 1/100 s
idle0() { awk '$1 == "cpu0" {print $5 + $6}' /proc/stat; }           # core 0 idle+iowait, 1/100 s
load() { # load PORT PID SECS -> "msgs/s server-cpu% core0-busy% (client's details)"
  local t0 i0 out
  t0=$(ticks "$2") i0=$(idle0)
  out=$(taskset -c 1 "$client" "http://127.0.0.1:$1" -c "$streams" -n "$count" -d "$3") || {
    echo "stream-client failed against port $1: $out" >&2
    exit 1
  }
  echo "${out%% *} $(awk -v d=$(($(ticks "$2") - t0)) -v i=$(($(idle0) - i0)) -v s="$3" \
    'BEGIN {b = 100 - i / s; printf "%.0f%% %.0f%%", d / s, (b < 0 ? 0 : b)}') ${out#*msgs/s }"
}
if [ "$warm" != 0 ]; then
  for p in "$gen_port $gen_pid" "$iter_port $iter_pid" "$chan_port $chan_pid"; do
    load $p "$warm" >/dev/null
  done
fi

gi=""
gc=""
for i in $(seq "$rounds"); do
  order="gen iter chan"
  [ $((i % 2)) = 0 ] && order="chan iter gen"
  for s in $order; do
    case $s in
      gen) res=$(load "$gen_port" "$gen_pid" "$secs"); read -r g gcpu gbusy gdet <<<"$res" ;;
      iter) res=$(load "$iter_port" "$iter_pid" "$secs"); read -r b bcpu bbusy bdet <<<"$res" ;;
      chan) res=$(load "$chan_port" "$chan_pid" "$secs"); read -r c ccpu cbusy cdet <<<"$res" ;;
    esac
  done
  r1=$(python3 -c "print(round($g/$b, 3))") r2=$(python3 -c "print(round($g/$c, 3))")
  echo "round $i: generated $g msgs/s, bare iter $b, bare channel $c; generated/iter $r1, generated/channel $r2"
  echo "  generated    server cpu $gcpu, core 0 busy $gbusy $gdet"
  echo "  bare iter    server cpu $bcpu, core 0 busy $bbusy $bdet"
  echo "  bare channel server cpu $ccpu, core 0 busy $cbusy $cdet"
  gi="$gi $r1" gc="$gc $r2"
done
median() { echo "$@" | tr ' ' '\n' | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# shellcheck disable=SC2086
echo "median ratio generated/bare (iter): $(median $gi); generated/bare (channel): $(median $gc)"
