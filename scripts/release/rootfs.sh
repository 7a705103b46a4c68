#!/bin/sh
# rootfs.sh ARCH DIR: the runtime files of the action's image for ARCH (amd64, arm64) in DIR:
# Alpine's CA certificates and OpenSSH client (`ssh` only) with what they link (musl, libcrypto,
# zlib), installed by apk for that architecture without running anything of it (--no-scripts),
# so one amd64 job fills both architectures without emulation. Runs where `apk` is: the Alpine
# image pinned by digest in the Dockerfile and the release workflow. APK (default `apk`) and
# APK_REPOSITORIES (default /etc/apk/repositories) may be overridden.
set -eu
arch=${1:?usage: rootfs.sh amd64|arm64 DIR}
dir=${2:?usage: rootfs.sh amd64|arm64 DIR}
case $arch in
  amd64) apk_arch=x86_64 ;;
  arm64) apk_arch=aarch64 ;;
  *) echo "rootfs.sh: unsupported architecture '$arch' (amd64, arm64)" >&2; exit 2 ;;
esac
mkdir -p "$dir/etc/apk" "$dir/root/.ssh" "$dir/tmp"
chmod 700 "$dir/root/.ssh"
chmod 1777 "$dir/tmp"
cp "${APK_REPOSITORIES:-/etc/apk/repositories}" "$dir/etc/apk/repositories"
# Alpine's keys for every architecture ship in alpine-keys under /usr/share/apk/keys/<arch>.
"${APK:-apk}" add --root "$dir" --arch "$apk_arch" --initdb --no-cache --no-scripts \
  --keys-dir "/usr/share/apk/keys/$apk_arch" \
  ca-certificates-bundle openssh-client-default
# apk's own database is not part of the image: nothing in it runs apk.
rm -rf "$dir/etc/apk" "$dir/lib/apk" "$dir/var/cache/apk"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
printf 'root:x:0:\n' >"$dir/etc/group"
