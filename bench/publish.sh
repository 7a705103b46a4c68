#!/usr/bin/env bash
# `publish` (tags + files build + push in one process) against `build` then `push` (two
# processes, the layout written to disk between them), same image, local docker-registry.
# Each round pushes a fresh image (a new file in it), so every run uploads its layers.
#
#   bench/publish.sh                      # release binary, 10 rounds
#   BIN=target/debug/deploy-action N=5 bench/publish.sh
#
# Needs: docker-registry, curl, bc, python3.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/deploy-action}
N=${N:-10}
[[ -x $BIN ]] || cargo build --release --quiet
WORK=$(mktemp -d)
cleanup() {
  [[ -f $WORK/pid ]] && kill "$(cat "$WORK/pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/data
http:
  addr: 127.0.0.1:$port
  secret: bench
YAML
/usr/bin/docker-registry serve "$WORK/config.yml" >"$WORK/log" 2>&1 </dev/null &
echo $! >"$WORK/pid"
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done
HOST=127.0.0.1:$port
mkdir -p "$WORK/app"
cp /bin/busybox "$WORK/app/busybox"

publish_total=0
separate_total=0
for i in $(seq 1 "$N"); do
  echo "round $i" >"$WORK/app/round"
  t0=$(now)
  env -i PATH=/usr/bin:/bin "$BIN" publish --images "$HOST/bench/pub" --tags "type=raw,value=r$i" \
    --builder files --add "$WORK/app/:/app/" --entrypoint /app/busybox >/dev/null 2>&1
  t1=$(now)
  rm -rf "$WORK/layout"
  env -i PATH=/usr/bin:/bin "$BIN" build --builder files --add "$WORK/app/:/app/" \
    --entrypoint /app/busybox --output "oci:$WORK/layout" >/dev/null 2>&1
  env -i PATH=/usr/bin:/bin "$BIN" push "oci:$WORK/layout" "$HOST/bench/sep:r$i" >/dev/null 2>&1
  t2=$(now)
  publish_total=$(echo "$publish_total + $t1 - $t0" | bc -l)
  separate_total=$(echo "$separate_total + $t2 - $t1" | bc -l)
done
printf 'publish (one process):      %.3f s per run\n' "$(echo "$publish_total / $N" | bc -l)"
printf 'build + push (two processes): %.3f s per run\n' "$(echo "$separate_total / $N" | bc -l)"
