#!/usr/bin/env bash
# version-tags.sh vX.Y.Z: the image tags of a release, one per line: vX.Y.Z, vX.Y, vX.
# A pre-release (vX.Y.Z-rc.1) gets only its own tag: the moving tags name releases only.
# Exit 2 on anything that is not v<major>.<minor>.<patch>[-<pre>] (a build suffix `+…` is
# refused too: it is not a valid image tag).
set -euo pipefail
tag=${1:-}
num='(0|[1-9][0-9]*)'
if [[ ! $tag =~ ^v$num\.$num\.$num(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "version-tags.sh: '$tag' is not a release tag vX.Y.Z or vX.Y.Z-pre" >&2
  exit 2
fi
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} pre=${BASH_REMATCH[4]}
echo "$tag"
if [[ -z $pre ]]; then
  echo "v$major.$minor"
  echo "v$major"
fi
