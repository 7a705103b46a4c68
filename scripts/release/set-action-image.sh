#!/usr/bin/env bash
# set-action-image.sh ACTION_YML IMAGE: replaces the one `image:` line of the `runs:` block of
# ACTION_YML with `image: IMAGE` (IMAGE is `docker://…`), in place; every other byte stays.
# Fails (exit 1, file unchanged) unless `runs:` has exactly one `image:` line; exit 2 when IMAGE
# is not a `docker://` reference. Used by the release (the digest-pinned image) and by the tests
# (the local test image).
set -euo pipefail
file=${1:?usage: set-action-image.sh ACTION_YML docker://IMAGE}
image=${2:?usage: set-action-image.sh ACTION_YML docker://IMAGE}
if [[ $image != docker://?* || $image =~ [[:space:]\"\'] ]]; then
  echo "set-action-image.sh: '$image' is not a docker://IMAGE reference" >&2
  exit 2
fi
tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# In `runs:` (a top-level key) until the next top-level key: the `  image:` line is replaced.
awk -v image="$image" '
  /^[^[:space:]#]/ { in_runs = ($0 ~ /^runs:[[:space:]]*$/) }
  in_runs && /^[[:space:]]+image:/ { match($0, /^[[:space:]]+/); print substr($0, 1, RLENGTH) "image: " image; n++; next }
  { print }
  END { if (n != 1) { printf "set-action-image.sh: %d image: lines in runs:, want 1\n", n > "/dev/stderr"; exit 1 } }
' "$file" >"$tmp"
chmod --reference="$file" "$tmp" 2>/dev/null || true
mv "$tmp" "$file"
trap - EXIT
