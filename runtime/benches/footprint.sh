#!/usr/bin/env bash
# Issue 19, item 3: memory, start-up and size of services fresh from `rustctl api new` and
# `rustctl rpc new` (their own configs, release builds, one tokio worker):
#   - idle RSS (VmRSS from /proc, 1 s after the service answers);
#   - RSS after each of two loads of about a million requests (REST: wrk, 64 connections,
#     LOAD_SECS each; gRPC: h2load, 1 000 000 unary calls on 64 connections);
#   - time from exec to the first 200 (raw sockets polled every 0.2 ms; REST: the route, gRPC:
#     the dev server's /healthz), median and range of STARTS starts, and the same for bare axum;
#   - the size of each binary, stripped.
#
# usage: footprint.sh [PROJECT_ROOT] [BARE_AXUM_DIR]
#   (defaults: the current directory, and ../shared/bench/bare-axum beside the project root)
# env:   BENCH_TARGET (cargo target dir, /tmp/footprint-target), LOAD_SECS (15), STARTS (20)
# needs: wrk and h2load (Debian packages wrk, nghttp2-client), python3
set -euo pipefail
root=$(cd "${1:-.}" && pwd)
bare_src=$(cd "${2:-$root/../shared/bench/bare-axum}" && pwd)
load_secs=${LOAD_SECS:-15} starts=${STARTS:-20}
work=$(mktemp -d); trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${BENCH_TARGET:-/tmp/footprint-target}
bin=$CARGO_TARGET_DIR/release

(cd "$root" && cargo build --release -q -p rustctl)
(cd "$work" && "$bin/rustctl" api new perfsvc >/dev/null && "$bin/rustctl" rpc new ledger >/dev/null)
rest_cfg=$work/perfsvc/etc/perfsvc-api.yaml
sed -i 's/^Host: .*/Host: 127.0.0.1/; s/^Port: .*/Port: 18932/' "$rest_cfg"
grpc_cfg=$(ls "$work"/ledger/etc/*.yaml | head -1)
sed -i 's/^ListenOn: .*/ListenOn: 127.0.0.1:18942/' "$grpc_cfg"
dev_port=$(awk '/^DevServer:/ {d=1} d && /Port:/ {print $2; exit}' "$grpc_cfg")
(cd "$work/perfsvc" && cargo build --release -q)
(cd "$work/ledger" && cargo build --release -q)
(cd "$bare_src" && cargo build --release -q)
rest_exe=$bin/perfsvc-api
grpc_exe=$(find "$bin" -maxdepth 1 -type f -executable -name 'ledger*' | head -1)

rss() { awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }

echo "== REST (api new)"
(cd "$work/perfsvc" && TOKIO_WORKER_THREADS=1 exec "$rest_exe" -f "$rest_cfg" >/dev/null 2>&1) &
pid=$!; wait_port 18932; sleep 1
echo "idle RSS: $(rss $pid)"
for n in 1 2; do
  wrk -t1 -c64 -d"${load_secs}s" http://127.0.0.1:18932/from/you | awk '/requests in/ {printf "load %s: %s requests, ", n, $1}' n=$n
  echo "RSS $(rss $pid)"
done
kill $pid; wait $pid 2>/dev/null || true

echo "== gRPC (rpc new)"
python3 -c "import struct,sys; m=b'\x0a\x02hi'; sys.stdout.buffer.write(b'\x00'+struct.pack('>I',len(m))+m)" > "$work/ping.bin"
(cd "$work/ledger" && TOKIO_WORKER_THREADS=1 exec "$grpc_exe" -f "$grpc_cfg" >/dev/null 2>&1) &
pid=$!; wait_port 18942; sleep 1
echo "idle RSS: $(rss $pid)"
for n in 1 2; do
  h2load -n 1000000 -c 64 -m 1 -t 1 -d "$work/ping.bin" -H 'content-type: application/grpc' \
    -H 'te: trailers' http://127.0.0.1:18942/ledger.Ledger/Ping | awk '/^requests:/ {printf "load %s: %s calls succeeded (%s failed), ", n, $8, $10}' n=$n
  echo "RSS $(rss $pid)"
done
kill $pid; wait $pid 2>/dev/null || true

echo "== exec to the first 200 (median of $starts starts, min-max)"
python3 - "$starts" "$work" "$rest_exe" "$rest_cfg" "$grpc_exe" "$grpc_cfg" "$dev_port" "$bin/bare-axum" <<'PY'
import os, socket, statistics, subprocess, sys, time
starts, work, rest_exe, rest_cfg, grpc_exe, grpc_cfg, dev_port, bare = sys.argv[1:]
def first_200(cmd, cwd, port, path, env):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return (time.perf_counter() - t0) * 1000
            except OSError:
                pass
            time.sleep(0.0002)
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"{cmd[0]} never answered 200")
    finally:
        p.kill(); p.wait()
env = dict(os.environ, TOKIO_WORKER_THREADS="1")
cases = [
    ("REST (api new), GET /from/you", [rest_exe, "-f", rest_cfg], os.path.join(work, "perfsvc"), 18932, "/from/you", env),
    ("gRPC (rpc new), dev server /healthz", [grpc_exe, "-f", grpc_cfg], os.path.join(work, "ledger"), int(dev_port), "/healthz", env),
    ("bare axum, GET /from/you", [bare], work, 18081, "/from/you", dict(env, PORT="18081")),
]
for name, cmd, cwd, port, path, e in cases:
    ms = [first_200(cmd, cwd, port, path, e) for _ in range(int(starts))]
    print(f"{name}: {statistics.median(ms):.1f} ms ({min(ms):.1f}-{max(ms):.1f})")
PY

echo "== binary size, stripped"
for exe in "$rest_exe" "$grpc_exe" "$bin/bare-axum"; do
  strip -o "$work/stripped" "$exe"
  echo "$(basename "$exe"): $(python3 -c "import os; print(f'{os.path.getsize(\"$work/stripped\") / 1e6:.1f} MB')")"
done
