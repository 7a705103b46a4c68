#!/usr/bin/env bash
# Benchmark (not a test): whole-process time of one `command: tags` run as a runner runs it,
# next to docker/metadata-action under node on the same inputs when a local build of it is
# given (METADATA_ACTION_JS=/path/to/dist/index.js; it is not part of this repository).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/deploy-action
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/event.json" <<'JSON'
{"ref":"refs/tags/v1.2.3","repository":{"name":"api","full_name":"org/api","default_branch":"main",
 "description":"The API","html_url":"https://github.com/org/api","license":{"spdx_id":"MIT"}}}
JSON
export GITHUB_ACTIONS=true GITHUB_EVENT_NAME=push GITHUB_REF=refs/tags/v1.2.3
export GITHUB_SHA=860c1904a1ce19322e91ac35af1ab07466440c37 GITHUB_REPOSITORY=org/api
export GITHUB_EVENT_PATH=$work/event.json GITHUB_OUTPUT=$work/output GITHUB_STEP_SUMMARY=$work/summary
export GITHUB_SERVER_URL=https://github.com GITHUB_API_URL=https://api.github.com
export INPUT_COMMAND=tags INPUT_CONTEXT=workflow INPUT_GITHUB-TOKEN=dummy
export INPUT_IMAGES=$'ghcr.io/org/api\ndocker.io/org/api'
export INPUT_TAGS=$'type=schedule\ntype=ref,event=branch\ntype=ref,event=tag\ntype=ref,event=pr\ntype=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=sha'
export INPUT_FLAVOR= INPUT_LABELS= INPUT_ANNOTATIONS=
export INPUT_SEP-TAGS=$'\n' INPUT_SEP-LABELS=$'\n' INPUT_SEP-ANNOTATIONS=$'\n'
export INPUT_BAKE-TARGET=docker-metadata-action

cmds=(-n deploy-action "$bin")
if [ -n "${METADATA_ACTION_JS:-}" ] && [ -f "$METADATA_ACTION_JS" ]; then
  cmds+=(-n "metadata-action (node)" "node $METADATA_ACTION_JS")
  cmds+=(-n "node startup floor" "node -e ''")
fi
hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-markdown "$work/bench.md" "${cmds[@]}" >/dev/null
cat "$work/bench.md"
echo
echo "tags computed by deploy-action:"
"$bin" >/dev/null && grep -A20 '^tags<<' "$work/output" | head -8
