#!/usr/bin/env bash
# `make demo`: installs what is missing (.ci/setup), then runs end-to-end scenarios 1 and 3
# in a real runner (act) on this machine, everything on loopback: a test Docker engine, a
# local registry, a fake GitHub API, and a real sshd standing in for the deployment VM
# (docker-compose there). A push to a service repository runs workflows/service-ci.yml
# (`publish`: build, push api:staging-<sha>, dispatch); workflows/deploy.yml (`release`,
# target compose-ssh) runs the new container on the "VM" and checks /health; then
# workflows/rollback.yml puts the old tag back and checks /health again. The narrative
# lines start with `==`; act's logs of each run are written to target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
./.ci/setup
export CI=1 # missing tools fail the run instead of skipping it
start=$(date +%s)
mkdir -p target/demo
set +e
DEMO_LOG_DIR="$PWD/target/demo" cargo test --test it e2e_demo -- --nocapture --test-threads=1 2>&1 \
  | tee target/demo/test.log | grep --line-buffered -E '^== |^e2e scenario|^test result|panicked|^ *Compiling deploy'
status=${PIPESTATUS[0]}
set -e
echo
echo "demo finished in $(( $(date +%s) - start ))s (exit $status); the whole output: target/demo/test.log"
echo "the tag computation demo of earlier rounds: ./scripts/demo-tags.sh (after make build)"
exit "$status"
