#!/usr/bin/env bash
# Builds and starts the article's clinical-trial platform, then shows it working:
#   trial-rpc   gRPC Trial Project service      (examples/trial/trial-rpc, from trial.proto)
#   trial-api   HTTP gateway calling trial-rpc  (examples/trial/trial-api, from trial.api)
#   patient-api the Gin patient lookup          (examples/patient)
#   epro-api    questionnaires, admin export    (examples/epro)
# Usage: examples/run.sh          start everything, try it, keep serving until Ctrl-C
#        examples/run.sh --once   start everything, try it, stop
set -euo pipefail
cd "$(dirname "$0")/.."

once=false
[ "${1:-}" = "--once" ] && once=true

echo "== regenerating the examples from their contracts (nothing changes unless a contract did)"
cargo run -q -p rustctl -- rpc protoc examples/trial/trial.proto --out examples/trial/trial-rpc | tail -n 1
cargo run -q -p rustctl -- api go --api examples/trial/trial.api --dir examples/trial/trial-api | tail -n 1
cargo run -q -p rustctl -- api go --api examples/patient/patient.api --dir examples/patient | tail -n 1
cargo run -q -p rustctl -- api go --api examples/epro/epro.api --dir examples/epro | tail -n 1

echo "== building"
cargo build -q -p trial-rpc -p trial-api -p patient-api -p epro-api

logs=target/examples-logs
mkdir -p "$logs"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

start() { # start NAME DIR ARGS...
  local name=$1 dir=$2; shift 2
  (cd "$dir" && exec "$OLDPWD/target/debug/$name" "$@") > "$logs/$name.log" 2>&1 &
  pids+=($!)
}
start trial-rpc examples/trial/trial-rpc -f etc/trial.yaml
start trial-api examples/trial/trial-api -f etc/trial-api.yaml
start patient-api examples/patient -f etc/patient-api.yaml
# epro-api's config ships no JWT secret; this run makes one up unless you give your own.
EPRO_ACCESS_SECRET=${EPRO_ACCESS_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
export EPRO_ACCESS_SECRET
start epro-api examples/epro -f etc/epro-api.yaml

wait_for() { # wait_for URL
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1; see $logs/" >&2
  exit 1
}
wait_for http://127.0.0.1:6470/healthz
wait_for http://127.0.0.1:6060/healthz
wait_for http://127.0.0.1:6061/healthz
wait_for http://127.0.0.1:6062/healthz

try() { # try DESCRIPTION CURL-ARGS...
  local what=$1; shift
  echo
  echo "\$ curl $*      # $what"
  curl -s -w '  [HTTP %{http_code}]\n' "$@"
}
echo
echo "== the platform is up (logs in $logs/)"
try "trial via trial-rpc" http://127.0.0.1:8888/trial/NCT045148
try "unknown trial: gRPC NotFound -> 404" http://127.0.0.1:8888/trial/NCT000000
try "patient" http://127.0.0.1:8081/patient/1001
try "non-numeric id -> 400" http://127.0.0.1:8081/patient/abc
try "questionnaire: three tasks at once, 201 Created" -X POST -H 'Content-Type: application/json' \
  -d '{"patientId":"P-1001","patientName":"张三","painScore":8}' http://127.0.0.1:8082/epro/v1/questionnaires
try "export without the admin role -> 403" http://127.0.0.1:8082/epro/v1/export
try "export as admin" -H 'X-User-Role: admin' http://127.0.0.1:8082/epro/v1/export
try "the same rows as a CSV download" -H 'X-User-Role: admin' 'http://127.0.0.1:8082/epro/v1/export?format=csv'
echo
echo "Metrics:  http://127.0.0.1:6060/metrics (trial-api)   http://127.0.0.1:6470/metrics (trial-rpc)"
echo "Profile:  curl -o cpu.pb 'http://127.0.0.1:6060/debug/pprof/profile?seconds=10' && go tool pprof cpu.pb"
echo "gRPC:     127.0.0.1:8080 (reflection on: grpcurl -plaintext 127.0.0.1:8080 list)"

if $once; then
  exit 0
fi
echo
echo "Serving until Ctrl-C."
wait
