#!/usr/bin/env bash
# image-rootfs.sh BIN DIR: the root filesystem of a local, offline equivalent of the release
# image in DIR: BIN at /usr/local/bin/deploy-action, this machine's /usr/bin/ssh, every shared
# library either links (as `ldd` lists them), CA certificates, and /etc/passwd, /etc/group with
# root and its home (ssh needs them). Used by `make image` (scripts/image.sh) and the tests'
# action image (tests/it/support/docker.rs), so both are the same files.
set -euo pipefail
bin=${1:?usage: image-rootfs.sh BIN DIR}
dir=${2:?usage: image-rootfs.sh BIN DIR}
ssh=${SSH_BIN:-/usr/bin/ssh}
[[ -x $bin ]] || { echo "image-rootfs.sh: no binary at $bin (make build)" >&2; exit 1; }
[[ -x $ssh ]] || { echo "image-rootfs.sh: no ssh at $ssh (apt-get install openssh-client)" >&2; exit 1; }

copy_with_libs() { # PROGRAM DEST
  install -D -m 0755 "$1" "$dir/$2"
  local lib
  # `ldd` of a static binary prints no path (and may exit 1): nothing to copy then.
  for lib in $( (ldd "$1" 2>/dev/null || true) | grep -o '/[^ ]*'); do
    [[ -e $dir$lib ]] || install -D -m 0755 "$lib" "$dir$lib"
  done
}
mkdir -p "$dir"
copy_with_libs "$bin" usr/local/bin/deploy-action
copy_with_libs "$ssh" usr/bin/ssh
mkdir -p "$dir/etc/ssl/certs" "$dir/root/.ssh" "$dir/tmp"
chmod 700 "$dir/root/.ssh"
chmod 1777 "$dir/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
printf 'root:x:0:\n' >"$dir/etc/group"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
fi
