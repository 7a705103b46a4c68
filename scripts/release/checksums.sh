#!/usr/bin/env bash
# checksums.sh DIR: writes DIR/SHA256SUMS for every other regular file in DIR (names without
# directory, sorted, `sha256sum` format so users run `sha256sum -c SHA256SUMS`), checks it,
# and prints it. Exit 1 when DIR has no file.
set -euo pipefail
dir=${1:?usage: checksums.sh DIR}
cd "$dir"
files=()
while IFS= read -r f; do files+=("$f"); done < <(find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "checksums.sh: no files in $dir" >&2
  exit 1
fi
sha256sum -- "${files[@]}" >SHA256SUMS
sha256sum --quiet -c SHA256SUMS
cat SHA256SUMS
