#!/usr/bin/env bash
# `make demo`: computes the image tags for this repository's own ref, as a CLI and as the
# Action would inside a runner (outputs file + job summary), with the team's conventions.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/deploy-action

ref=$(git symbolic-ref -q HEAD 2>/dev/null || true)
tag=$(git describe --tags --exact-match 2>/dev/null || true)
[ -n "$tag" ] && ref="refs/tags/$tag"
[ -n "$ref" ] || ref=refs/heads/main
sha=$(git rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)

# The team's conventions, as in workflows/service-ci.yml (where `enable=` uses ${{ github.ref == … }}).
rules_for() {
  local r=$1 dev=false main=false other=false
  case "$r" in
    refs/heads/develop) dev=true ;;
    refs/heads/main) main=true ;;
    refs/heads/*) other=true ;;
  esac
  printf '%s\n' \
    "type=raw,value=dev-{{sha}},enable=$dev" \
    "type=raw,value=staging-{{sha}},enable=$main" \
    "type=raw,value=staging,enable=$main" \
    "type=ref,event=branch,suffix=-{{sha}},enable=$other" \
    'type=semver,pattern=v{{version}}' \
    'type=semver,pattern={{major}}.{{minor}}' \
    'type=semver,pattern={{major}}' \
    'type=ref,event=pr'
}
envs='refs/heads/develop=dev
refs/heads/main=staging
refs/tags/v*=production
refs/pull/*=none'

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "CLI: tags for $ref @ ${sha:0:7}"
echo "\$ deploy-action tags --ref $ref --sha ${sha:0:7}… --images ghcr.io/org/deploy-action --tags type=ref,event=branch --tags type=sha"
"$bin" tags --ref "$ref" --sha "$sha" --images ghcr.io/org/deploy-action \
  --tags 'type=ref,event=branch' --tags 'type=semver,pattern={{version}}' --tags 'type=sha'

say "CLI, JSON output"
"$bin" tags --ref "$ref" --sha "$sha" --images ghcr.io/org/deploy-action --format json

say "The team's conventions for six refs"
for r in refs/heads/develop refs/heads/main refs/heads/feature/login refs/tags/v1.2.3 refs/tags/v2.0.0-rc.1 refs/pull/42/merge; do
  printf '%-22s -> ' "$r"
  "$bin" tags --ref "$r" --sha "$sha" --images ghcr.io/org/api --tags "$(rules_for "$r")" --environments "$envs" --format json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("env=%-10s %s" % (d.get("environment") or "-", " ".join(t.split(":",1)[1] for t in d["tags"])))'
done

say "As the Action inside a runner (INPUT_* in, \$GITHUB_OUTPUT and job summary out)"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
printf '{"repository":{"name":"deploy-action","default_branch":"main","html_url":"https://github.com/org/deploy-action","license":{"spdx_id":"MIT"}}}' > "$work/event.json"
env -i PATH="$PATH" GITHUB_ACTIONS=true GITHUB_EVENT_NAME=push GITHUB_REF="$ref" GITHUB_SHA="$sha" \
  GITHUB_REPOSITORY=org/deploy-action GITHUB_EVENT_PATH="$work/event.json" \
  GITHUB_OUTPUT="$work/output" GITHUB_STEP_SUMMARY="$work/summary" \
  INPUT_COMMAND=tags INPUT_IMAGES=ghcr.io/org/deploy-action INPUT_TAGS="$(rules_for "$ref")" INPUT_ENVIRONMENTS="$envs" \
  INPUT_TOKEN=ghp_demo_secret_never_printed "$bin"
say "\$GITHUB_OUTPUT"
cat "$work/output"
say "Job summary (Markdown)"
cat "$work/summary"
