#!/usr/bin/env bash
# Build + push benchmark (run on demand, not a test), against its own dockerd and local
# docker-registry instances on loopback, every push to a fresh registry (cold).
#
# Small service (busybox-static + three asset files), median of N rounds:
#   files builder + our push | docker builder (Engine API) + our push | docker build + docker push
# W1 of bench/registry.sh (96 MiB incompressible + 48 MiB text + 4 small layers) in the engine:
#   engine export + our parallel compression + our push | docker push | skopeo copy docker-daemon:
#
#   bench/build.sh                       # release binary, N=3
#   BIN=target/debug/deploy-action N=1 bench/build.sh
#   ONLY=w1 bench/build.sh               # W1 only (its log of our side goes to stderr)
#
# Needs root (dockerd), docker.io (dockerd and Debian's /usr/bin/docker), docker-registry,
# skopeo, curl, bc, python3 (bench/lib.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/deploy-action}
N=${N:-3}
[[ -x $BIN ]] || cargo build --release --quiet
BIN=$(realpath "$BIN")
source bench/lib.sh

# The engine: in this shell (so it can be waited for), stopped before lib.sh's cleanup.
D=$WORK/d
mkdir -p "$D"
dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
  --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/docker.pid" -H "unix://$D/docker.sock" \
  >"$D/log" 2>&1 </dev/null &
DOCKERD_PID=$!
stop_all() {
  kill "$DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
  awk -v r="$WORK/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  cleanup
}
trap stop_all EXIT
export DOCKER_HOST="unix://$D/docker.sock"
docker() { /usr/bin/docker "$@"; }
for i in $(seq 1 300); do
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
  [[ $i == 300 ]] && { echo "dockerd did not start in 60 s:" >&2; cat "$D/log" >&2; exit 1; }
  sleep 0.2
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# timed NAME CMD... : runs CMD (output to $WORK/log.NAME), prints seconds.
timed() {
  local name=$1 t0 t1
  shift
  t0=$(now)
  "$@" >"$WORK/log.$name" 2>&1 || { echo "$name failed:" >&2; tail -20 "$WORK/log.$name" >&2; exit 1; }
  t1=$(now)
  secs "$t0" "$t1"
}
ours() { env -i PATH=/usr/bin:/bin HOME="$WORK" DOCKER_HOST="$DOCKER_HOST" "$BIN" "$@"; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
add() { echo "$1 + $2" | bc -l | xargs printf '%.3f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

# The small service.
S=$WORK/svc
mkdir -p "$S/static"
cp /bin/busybox "$S/busybox"
printf '<!doctype html><link rel=stylesheet href=app.css><script src=app.js></script><h1>hi</h1>\n' >"$S/static/index.html"
yes 'body { font-family: sans-serif; margin: 2em; }' | head -c 6000 >"$S/static/app.css" || true
yes 'console.log("hello from the bench");' | head -c 12000 >"$S/static/app.js" || true
cat >"$S/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
COPY static/ /srv/www/
ENTRYPOINT ["/bin/busybox"]
CMD ["httpd", "-f", "-h", "/srv/www"]
EOF

declare -a fb fp db dp cb cq
[[ ${ONLY:-} == w1 ]] && N=0
for i in $(seq 1 "$N"); do
  echo "small service, round $i/$N" >&2
  r=$(start_registry)
  fb+=("$(timed "fb$i" ours build --builder files --add "$S/busybox:/bin/busybox" --add "$S/static/:/srv/www/" \
    --entrypoint /bin/busybox --cmd httpd,-f,-h,/srv/www --output "oci:$WORK/files$i")")
  fp+=("$(timed "fp$i" ours push "oci:$WORK/files$i" "$r/svc/files:r$i")")
  r=$(start_registry)
  db+=("$(timed "db$i" ours build --builder docker --context "$S" --no-cache --output "oci:$WORK/docker$i")")
  dp+=("$(timed "dp$i" ours push "oci:$WORK/docker$i" "$r/svc/docker:r$i")")
  r=$(start_registry)
  cb+=("$(timed "cb$i" docker build -q --no-cache -t "$r/svc/cli:r$i" "$S")")
  cq+=("$(timed "cp$i" docker push "$r/svc/cli:r$i")")
done
# The images do what they should: the files one serves its page in the engine.
[[ $N == 0 ]] || {
r=$(start_registry)
ours push "oci:$WORK/files1" "$r/svc/check:v1" >/dev/null 2>&1
docker pull -q "$r/svc/check:v1" >/dev/null
[[ $(docker run --rm --network none --entrypoint /bin/busybox "$r/svc/check:v1" cat /srv/www/index.html) == *'<h1>hi</h1>'* ]] ||
  { echo "the files image does not serve its page" >&2; exit 1; }
}

# W1 in the engine (small layers first, then the text and the incompressible one: vfs copies
# every layer's whole tree, so the big ones go last).
W=$WORK/w1ctx
mkdir -p "$W"
for i in 3 4 5 6; do head -c $((i * 50000)) /dev/urandom >"$W/l$i"; done
yes 'lorem ipsum dolor sit amet, consectetur adipiscing elit' | head -c $((48 << 20)) >"$W/l2" || true
head -c $((96 << 20)) /dev/urandom >"$W/l1"
printf 'FROM scratch\nCOPY l3 /l3\nCOPY l4 /l4\nCOPY l5 /l5\nCOPY l6 /l6\nCOPY l2 /l2\nCOPY l1 /l1\n' >"$W/Dockerfile"
echo "W1: building it in the engine (not timed)" >&2
docker build -q -t bench/w1:latest "$W" >/dev/null
rm -f "$W"/l*
mkdir -p "$WORK/w1from"
printf 'FROM bench/w1:latest\n' >"$WORK/w1from/Dockerfile"

echo "W1: ours" >&2
r=$(start_registry)
w1_export=$(timed w1_export ours build --builder docker --context "$WORK/w1from" --output "oci:$WORK/w1out")
w1_push=$(timed w1_push ours push "oci:$WORK/w1out" "$r/w1/app:v1")
echo "W1: docker push" >&2
r=$(start_registry)
docker tag bench/w1:latest "$r/w1/cli:v1"
w1_cli=$(timed w1_cli docker push "$r/w1/cli:v1")
echo "W1: skopeo" >&2
r=$(start_registry)
w1_skopeo=$(timed w1_skopeo env HOME="$(mktemp -d -p "$WORK")" skopeo copy --quiet --dest-tls-verify=false \
  --src-daemon-host "$DOCKER_HOST" docker-daemon:bench/w1:latest "docker://$r/w1/skopeo:v1")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $N == 0 ]]; then
  grep -v '^::' "$WORK/log.w1_export" "$WORK/log.w1_push" >&2
  printf 'W1: ours %s + %s s, docker push %s s, skopeo %s s; load %s -> %s\n' "$w1_export" "$w1_push" "$w1_cli" "$w1_skopeo" "$LOAD_START" "$LOAD_END"
  exit 0
fi

F=$(add "$(median "${fb[@]}")" "$(median "${fp[@]}")")
K=$(add "$(median "${db[@]}")" "$(median "${dp[@]}")")
C=$(add "$(median "${cb[@]}")" "$(median "${cq[@]}")")
O=$(add "$w1_export" "$w1_push")
echo
echo "$(nproc) cores, load average $LOAD_START at the start, $LOAD_END at the end; $(basename "$BIN") $("$BIN" --version 2>/dev/null | head -1); median of $N rounds for the small service"
echo
printf '| small service (busybox-static + 3 assets) | build s | push s | total s | vs docker CLI |\n|---|---|---|---|---|\n'
printf '| files builder + our push | %s | %s | %s | %s× |\n' "$(median "${fb[@]}")" "$(median "${fp[@]}")" "$F" "$(ratio "$F" "$C")"
printf '| docker builder (Engine API) + our push | %s | %s | %s | %s× |\n' "$(median "${db[@]}")" "$(median "${dp[@]}")" "$K" "$(ratio "$K" "$C")"
printf '| `docker build` + `docker push` (CLI) | %s | %s | %s | 1× |\n' "$(median "${cb[@]}")" "$(median "${cq[@]}")" "$C"
echo
printf '| W1 from the engine to a registry | s | vs docker push | vs skopeo |\n|---|---|---|---|\n'
printf '| engine export + our parallel gzip + our push | %s (export+gzip %s, push %s) | %s× | %s× |\n' "$O" "$w1_export" "$w1_push" "$(ratio "$O" "$w1_cli")" "$(ratio "$O" "$w1_skopeo")"
printf '| `docker push` | %s | 1× | %s× |\n' "$w1_cli" "$(ratio "$w1_cli" "$w1_skopeo")"
printf '| `skopeo copy docker-daemon:… docker://…` | %s | %s× | 1× |\n' "$w1_skopeo" "$(ratio "$w1_skopeo" "$w1_cli")"
