#!/usr/bin/env bash
# The action's image and its start in a runner (not a timed test; `make bench-image`):
#   - the image `make image` makes (scripts/image-rootfs.sh + the files builder): compressed
#     size (layers + config, as pushed) and layer count;
#   - in act, the time from act starting the step (`⭐ Run Main`) to the binary's first log
#     line and to the step's end, for `uses: org/deploy-action@v1` resolved to this checkout
#     with action.yml's image in a local registry: cold (image not in the engine: act pulls
#     it) and warm; against a local JavaScript action (node20, `console.log` only) as anchor.
# Runs its own dockerd (root, vfs) and registry, removed at exit. BIN: the binary
# (default target/release/deploy-action); RUNS: repetitions (default 5); medians printed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(realpath "${BIN:-target/release/deploy-action}")
runs=${RUNS:-5}
docker=/usr/bin/docker; [[ -x $docker ]] || docker=docker
[[ $(id -u) == 0 ]] || { echo "bench/image.sh: needs root (its own dockerd)" >&2; exit 1; }

# --- engine -----------------------------------------------------------------------------
eng=$WORK/engine; mkdir -p "$eng"
export DOCKER_HOST=unix://$eng/docker.sock
dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
  --data-root "$eng/data" --exec-root "$eng/exec" --pidfile "$eng/docker.pid" \
  -H "$DOCKER_HOST" >"$eng/log" 2>&1 </dev/null &
echo $! >>"$WORK/pids"
stop_engine() {
  [[ -f $eng/docker.pid ]] && kill "$(cat "$eng/docker.pid")" 2>/dev/null && sleep 1
  awk -v r="$eng/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  cleanup
}
trap stop_engine EXIT
for _ in $(seq 1 300); do "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done

# --- image: build, push, size --------------------------------------------------------------
scripts/image-rootfs.sh "$bin" "$WORK/rootfs"
SOURCE_DATE_EPOCH=0 "$bin" build --builder files --add "$WORK/rootfs/:/" \
  --image-entrypoint /usr/local/bin/deploy-action \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --output "oci:$WORK/layout:bench" >/dev/null 2>&1
reg=$(start_registry)
ref=$reg/deploy-action:bench
"$bin" push "oci:$WORK/layout:bench" "$ref" >/dev/null 2>&1
manifest=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/deploy-action/manifests/bench")
layers=$(jq '.layers | length' <<<"$manifest")
compressed=$(jq '([.layers[].size] | add) + .config.size' <<<"$manifest")
binsize=$(stat -c %s "$bin")
uncompressed=$(du -sb "$WORK/rootfs" | cut -f1)

# --- job image: busybox + node (for the JavaScript anchor) ----------------------------------
job=$WORK/job; mkdir -p "$job/bin" "$job/tmp" "$job/etc" "$job/root" "$job/usr/bin"
cp /bin/busybox "$job/bin/busybox"
for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$job/bin/$a"; done
ln -s /bin/env "$job/usr/bin/env"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$job/etc/passwd"
printf '#!/bin/sh\nwhile [ "$1" = --noprofile ] || [ "$1" = --norc ]; do shift; done\nexec /bin/sh "$@"\n' >"$job/bin/bash"
chmod +x "$job/bin/bash"
node=$(command -v node)
install -D "$node" "$job/usr/local/bin/node"; ln -s /usr/local/bin/node "$job/usr/bin/node"
for lib in $(ldd "$node" | grep -o '/[^ ]*'); do [[ -e $job$lib ]] || install -D "$lib" "$job$lib"; done
tar -C "$job" -c . | "$docker" import - bench/job:node >/dev/null

# --- the actions and the workflow -------------------------------------------------------
action=$WORK/action; mkdir -p "$action"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [[ -f $f ]] && install -D -m "$(stat -c %a "$f")" "$f" "$action/$f"
done
scripts/release/set-action-image.sh "$action/action.yml" "docker://$ref"
js=$WORK/js; mkdir -p "$js"
printf 'name: noop\nruns:\n  using: node20\n  main: index.js\n' >"$js/action.yml"
echo 'console.log("js-action-started")' >"$js/index.js"
repo=$WORK/repo; mkdir -p "$repo/.github/workflows"
cat >"$repo/.github/workflows/bench.yml" <<'YAML'
name: bench
on: push
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - name: rust
        if: env.WHICH == 'rust'
        uses: org/deploy-action@v1
        with:
          images: ghcr.io/org/api
      - name: js
        if: env.WHICH == 'js'
        uses: org/noop@v1
YAML
git -C "$repo" init -q -b main && git -C "$repo" add -A && git -C "$repo" -c user.name=b -c user.email=b@b commit -qm init

# One act run; prints "start→first-line start→end" (seconds) of the step named $1.
act_step() {
  (cd "$repo" && act push --env "WHICH=$1" -P "ubuntu-latest=bench/job:node" --pull=false --rm --network host \
    --local-repository "org/deploy-action@v1=$action" --local-repository "org/noop@v1=$js" 2>&1) |
    tee "$WORK/act.log" | python3 -u -c '
import sys, time
step = sys.argv[1]; t0 = first = end = None
for line in sys.stdin:  # read to the end: act must not die of a closed pipe
    now = time.monotonic()
    if t0 is None and "Run Main " + step in line: t0 = now
    elif t0 is not None and first is None and "|" in line: first = now
    elif t0 is not None and end is None and ("Success - Main " + step) in line: end = now
if first is None or end is None: sys.exit(1)
print(f"{first - t0:.3f} {end - t0:.3f}")' "$1"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
measure() { # LABEL STEP [cold]
  local f=$WORK/$1.times
  for _ in $(seq 1 "$runs"); do
    [[ ${3:-} == cold ]] && { "$docker" rmi -f "$ref" >/dev/null 2>&1 || true; }
    act_step "$2" >>"$f" || { echo "act run failed:" >&2; cat "$WORK/act.log" >&2; exit 1; }
  done
  printf '%-34s first line %6ss   step end %6ss   (median of %s)\n' "$1" \
    "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" "$runs"
}

echo "image: $layers layer(s), $compressed bytes compressed ($(echo "scale=1; $compressed/1048576" | bc) MiB), $uncompressed bytes uncompressed; binary $binsize bytes"
measure "deploy-action, cold (pull)" rust cold
measure "deploy-action, warm" rust
measure "JavaScript action (node20), anchor" js
