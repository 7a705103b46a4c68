#!/usr/bin/env bash
# Registry push benchmark (run on demand, not a test). Compares deploy-action with
# `skopeo copy oci:… docker://…` (cold: fresh registry, fresh skopeo cache) and with a raw
# parallel monolithic upload (curl), against local docker-registry instances on loopback.
#
#   bench/registry.sh            # W1..W5
#   BIG=1 bench/registry.sh      # also peak RSS pushing a 1 GiB layer
#   BIN=target/debug/deploy-action bench/registry.sh
#
# Needs: docker-registry, skopeo, curl, jq, sha256sum, /usr/bin/time.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/deploy-action}
[[ -x $BIN ]] || cargo build --release --quiet
source bench/lib.sh

# add_blob LAYOUT FILE -> prints "digest size" and moves FILE into the layout.
add_blob() {
  local d s
  d=$(sha256sum "$2" | cut -d' ' -f1)
  s=$(stat -c %s "$2")
  mkdir -p "$1/blobs/sha256"
  mv "$2" "$1/blobs/sha256/$d"
  echo "sha256:$d $s"
}

# make_layout DIR FILE... : an OCI layout of one image whose layers are FILEs.
make_layout() {
  local dir=$1
  shift
  mkdir -p "$dir"
  local layers="" d s
  for f in "$@"; do
    read -r d s < <(add_blob "$dir" "$f")
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$d\",\"size\":$s}"
  done
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}' >"$WORK/config.json"
  read -r d s < <(add_blob "$dir" "$WORK/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "$d" "$s" "$layers" >"$WORK/manifest.json"
  read -r d s < <(add_blob "$dir" "$WORK/manifest.json")
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$d" "$s" >"$dir/index.json"
}

rand_file() { head -c "$2" /dev/urandom >"$1"; }
text_file() { yes 'lorem ipsum dolor sit amet, consectetur adipiscing elit' | head -c "$2" >"$1" || true; }

echo "generating images in $WORK" >&2
rand_file "$WORK/l1" $((96 << 20)); text_file "$WORK/l2" $((48 << 20))
for i in 3 4 5 6; do rand_file "$WORK/l$i" $((i * 50000)); done
make_layout "$WORK/w1" "$WORK"/l{1,2,3,4,5,6}
w2=()
for i in $(seq 1 24); do rand_file "$WORK/m$i" $((1 << 20)); w2+=("$WORK/m$i"); done
make_layout "$WORK/w2" "${w2[@]}"

# run_timed NAME CMD... : runs CMD, records seconds and peak RSS (KiB).
declare -A T M
run_timed() {
  local name=$1 t0 t1
  shift
  t0=$(now)
  /usr/bin/time -v -o "$WORK/time.$name" "$@" >"$WORK/out.$name" 2>"$WORK/err.$name" || {
    echo "$name failed:" >&2
    cat "$WORK/err.$name" >&2
    exit 1
  }
  t1=$(now)
  T[$name]=$(secs "$t0" "$t1")
  M[$name]=$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.$name")
}

skopeo_copy() { # skopeo_copy NAME SRC DST (fresh HOME: no blob-info cache)
  local home
  home=$(mktemp -d -p "$WORK")
  run_timed "$1" env HOME="$home" skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false "$2" "$3"
}

raw_push() { # raw parallel monolithic upload of every blob of LAYOUT to HOST/REPO
  local layout=$1 host=$2 repo=$3
  for f in "$layout"/blobs/sha256/*; do
    (
      loc=$(curl -sf -X POST -D - -o /dev/null "http://$host/v2/$repo/blobs/uploads/" | awk 'tolower($1)=="location:" {print $2}' | tr -d '\r')
      curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" "$loc&digest=sha256:$(basename "$f")" -o /dev/null
    ) &
  done
  wait
}
export -f raw_push

# W1 cold
r=$(start_registry); run_timed w1_ours "$BIN" push "oci:$WORK/w1" "$r/w1/app:v1"
r=$(start_registry); skopeo_copy w1_skopeo "oci:$WORK/w1:latest" "docker://$r/w1/app:v1"
r=$(start_registry); run_timed w1_raw bash -c "raw_push '$WORK/w1' '$r' w1/app"
# W2 cold
r=$(start_registry); run_timed w2_ours "$BIN" push "oci:$WORK/w2" "$r/w2/app:v1"
r=$(start_registry); skopeo_copy w2_skopeo "oci:$WORK/w2:latest" "docker://$r/w2/app:v1"
# W3 warm re-push, W4 promote (same registry as a W1 push)
r=$(start_registry); "$BIN" push "oci:$WORK/w1" "$r/w1/app:v1" >/dev/null 2>&1
run_timed w3_ours "$BIN" push "oci:$WORK/w1" "$r/w1/app:v1"
skopeo_copy w3_skopeo "oci:$WORK/w1:latest" "docker://$r/w1/app:v1"
run_timed w4_ours "$BIN" copy "$r/w1/app:v1" "$r/w1/app:v2"
skopeo_copy w4_skopeo "docker://$r/w1/app:v1" "docker://$r/w1/app:v3"
# W5 three registries
a=$(start_registry); b=$(start_registry); c=$(start_registry)
run_timed w5_ours "$BIN" push "oci:$WORK/w1" "$a/w1/app:v1" "$b/w1/app:v1" "$c/w1/app:v1"
a=$(start_registry); b=$(start_registry); c=$(start_registry)
run_timed w5_skopeo bash -c "for h in $a $b $c; do HOME=\$(mktemp -d -p '$WORK') skopeo copy --quiet --dest-tls-verify=false oci:$WORK/w1:latest docker://\$h/w1/app:v1; done"

if [[ ${BIG:-0} == 1 ]]; then
  rand_file "$WORK/big" $((1 << 30))
  make_layout "$WORK/big1" "$WORK/big"
  r=$(start_registry); run_timed big_ours "$BIN" push "oci:$WORK/big1" "$r/big/app:v1"
fi

printf '| Workload | deploy-action s | peak RSS MiB | skopeo s | peak RSS MiB | ratio | target |\n|---|---|---|---|---|---|---|\n'
row() { # row NAME TARGET [BASELINE]
  local o=${T[${1}_ours]} s=${T[${3:-${1}_skopeo}]:-} ratio="-"
  [[ -n $s ]] && ratio=$(echo "$o / $s" | bc -l | xargs printf '%.2f')
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$o" "$((${M[${1}_ours]} / 1024))" "${s:--}" \
    "$(( ${M[${3:-${1}_skopeo}]:-0} / 1024 ))" "$ratio" "$2"
}
row w1 "vs skopeo (info)"
row w1 "<=1.05x raw parallel monolithic" w1_raw
row w2 "<=0.75x skopeo"
row w3 "<=0.6x skopeo"
row w4 "<20 ms"
row w5 "<2x W1 ours (W1 ours: ${T[w1_ours]} s)"
[[ ${BIG:-0} == 1 ]] && printf '| 1 GiB layer | %s | %s | - | - | - | <64 MiB |\n' "${T[big_ours]}" "$((${M[big_ours]} / 1024))"
exit 0
