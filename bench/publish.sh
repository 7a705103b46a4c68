#!/usr/bin/env bash
# `publish` (tags + files build + push in one process) against `build` then `push` (two
# processes, the layout written to disk between them), same image, local docker-registry.
# Each round pushes a fresh image (a new file in it), so every run uploads its layers.
#
#   bench/publish.sh                      # release binary, 10 rounds
#   BIN=target/debug/deploy-action N=5 bench/publish.sh
#
# Needs: docker-registry, curl, bc, python3 (bench/lib.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/deploy-action}
N=${N:-10}
[[ -x $BIN ]] || cargo build --release --quiet
source bench/lib.sh
HOST=$(start_registry)
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
