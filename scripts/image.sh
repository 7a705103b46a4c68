#!/usr/bin/env bash
# `make image`: an offline equivalent of the release image (scripts/image-rootfs.sh: the host
# binary, ssh and what they link, CA certificates), assembled by the action's own daemonless
# files builder into an OCI layout, copied (skopeo) into the engine at DOCKER_HOST and tagged
# deploy-action:dev (IMAGE overrides the name). Prints the image reference last.
#
# The engine: DOCKER_HOST, else /var/run/docker.sock. When DOCKER_HOST is unset and nothing
# answers there, a private dockerd is started as the tests start theirs (root, vfs storage, no
# iptables) at unix:///tmp/deploy-action-dockerd/docker.sock and left running; the script
# says how to use and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/deploy-action}
image=${IMAGE:-deploy-action:dev}
docker=${DOCKER:-docker}
[[ -x /usr/bin/docker ]] && docker=${DOCKER:-/usr/bin/docker}

engine_answers() { "$docker" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! engine_answers; then
  if [[ -n ${DOCKER_HOST:-} ]]; then
    echo "make image: no Docker engine answers at DOCKER_HOST=$DOCKER_HOST." >&2
    echo "  Start one (as root):  dockerd --storage-driver=vfs --iptables=false --bridge=none -H $DOCKER_HOST &" >&2
    echo "  or unset DOCKER_HOST to let make image start a private one." >&2
    exit 1
  fi
  if [[ $(id -u) != 0 ]] || ! command -v dockerd >/dev/null; then
    echo "make image: no Docker engine at /var/run/docker.sock, and a private one needs root and dockerd (./.ci/setup)." >&2
    exit 1
  fi
  root=/tmp/deploy-action-dockerd
  export DOCKER_HOST=unix://$root/docker.sock
  if ! engine_answers; then
    mkdir -p "$root"
    echo "make image: starting a private dockerd at $DOCKER_HOST (log: $root/dockerd.log)" >&2
    nohup dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
      --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/docker.pid" \
      -H "$DOCKER_HOST" >"$root/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 300); do engine_answers && break; sleep 0.2; done
    engine_answers || { echo "make image: dockerd did not start; see $root/dockerd.log" >&2; exit 1; }
  fi
  echo "make image: use it with  export DOCKER_HOST=$DOCKER_HOST ; stop it with  kill \$(cat $root/docker.pid)" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/image-rootfs.sh "$bin" "$work/rootfs"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
  "$bin" build --builder files --add "$work/rootfs/:/" \
  --image-entrypoint /usr/local/bin/deploy-action \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --labels "org.opencontainers.image.title=deploy-action" \
  --output "oci:$work/layout:dev" >&2
# This engine's `docker load` reads docker-archive tars, not OCI layouts: skopeo converts.
skopeo copy --quiet "oci:$work/layout:dev" "docker-archive:$work/image.tar:$image" >&2
"$docker" load -q -i "$work/image.tar" >&2
echo "make image: $image ($("$docker" image inspect --format '{{.Size}}' "$image") bytes uncompressed, in the engine at ${DOCKER_HOST:-unix:///var/run/docker.sock})" >&2
echo "$image"
