#!/usr/bin/env bash
# Writes the examples' Dockerfiles, Kubernetes manifests and CI pipelines with rustctl.
# Every file it writes is generated: change a flag here, not the file. rustctl/tests/ship.rs
# runs this script with CHECK=--check, so a stale file fails the tests.
#   examples/deploy/generate.sh                 write what changed
#   CHECK=--check examples/deploy/generate.sh   write nothing; fail if anything would change
set -euo pipefail
cd "$(dirname "$0")/../.."
RUSTCTL=${RUSTCTL:-"cargo run -q -p rustctl --"}
CHECK=${CHECK:-}
IMAGE=registry.example.com/clinical

# Images: one multi-stage Dockerfile per service, built from the workspace root.
$RUSTCTL docker --dir examples/trial/trial-rpc $CHECK
$RUSTCTL docker --dir examples/trial/trial-api $CHECK
$RUSTCTL docker --dir examples/patient $CHECK
$RUSTCTL docker --dir examples/epro $CHECK

# Kubernetes: trial-rpc keeps its embedded SQLite file (its default DataSource) in a volume of
# the pod's own; trial-api reaches trial-rpc through its Service; ePRO scales out above 80% CPU
# (the default) up to 20 pods; its JWT secret comes from the Secret epro-api-env.
$RUSTCTL kube deploy --name trial-rpc --namespace clinical --image $IMAGE/trial-rpc:0.1.0 --dir examples/trial/trial-rpc -o examples/trial/trial-rpc/kube.yaml --replicas 2 --minReplicas 2 --writable data $CHECK
$RUSTCTL kube deploy --name trial-api --namespace clinical --image $IMAGE/trial-api:0.1.0 --dir examples/trial/trial-api -o examples/trial/trial-api/kube.yaml --env TRIAL_RPC_HOST=trial-rpc --nodePort 30888 $CHECK
$RUSTCTL kube deploy --name patient-api --namespace clinical --image $IMAGE/patient-api:0.1.0 --dir examples/patient -o examples/patient/kube.yaml $CHECK
$RUSTCTL kube deploy --name epro-api --namespace clinical --image $IMAGE/epro-api:0.1.0 --dir examples/epro -o examples/epro/kube.yaml --maxReplicas 20 $CHECK

# Pipelines for the four services (kept under examples/deploy/ci/, not where GitLab or GitHub
# would run them for this repository).
SERVICES="--service examples/trial/trial-rpc --service examples/trial/trial-api --service examples/patient --service examples/epro"
$RUSTCTL ci gitlab --namespace clinical $SERVICES --rustctl "cargo run --locked -q -p rustctl --" -o examples/deploy/ci/gitlab-ci.yml $CHECK
$RUSTCTL ci github --namespace clinical $SERVICES --rustctl "cargo run --locked -q -p rustctl --" -o examples/deploy/ci/github-ci.yml $CHECK
