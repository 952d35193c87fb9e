#!/usr/bin/env bash
# Build, push and record the digest of Dockerfile targets: each TARGET becomes
# REGISTRY/TARGET:TAG, built with --build-arg GIT_COMMIT=COMMIT, pushed, and its pushed
# digest (sha256:...) written to DIGESTS_DIR/TARGET for deploy/set_image_tags.sh to pin.
# Sequential on purpose: the targets share their first stages, which one daemon then builds once.
#
#   deploy/build_images.sh [--dry-run] REGISTRY TAG COMMIT TARGET...
#
# DIGESTS_DIR defaults to /workspace/digests (Cloud Build's shared workspace).
# --dry-run prints the docker commands instead of running them.
set -euo pipefail

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then
  dry_run=1
  shift
fi
if [[ $# -lt 4 ]]; then
  echo "usage: $0 [--dry-run] REGISTRY TAG COMMIT TARGET..." >&2
  exit 2
fi
registry=$1
tag=$2
commit=$3
shift 3
digests=${DIGESTS_DIR:-/workspace/digests}

for value in "$tag" "$commit"; do
  if [[ ! "$value" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    echo "invalid tag or commit: '$value'" >&2
    exit 2
  fi
done

run() {
  if [[ -n "$dry_run" ]]; then
    echo "$*"
  else
    "$@"
  fi
}

[[ -n "$dry_run" ]] || mkdir -p "$digests"
for target in "$@"; do
  image="$registry/$target:$tag"
  run docker build --target "$target" --build-arg "GIT_COMMIT=$commit" -t "$image" .
  run docker push "$image"
  if [[ -n "$dry_run" ]]; then
    echo "record $target"
    continue
  fi
  # RepoDigests holds REGISTRY/TARGET@sha256:... once pushed.
  ref=$(docker image inspect --format '{{index .RepoDigests 0}}' "$image")
  echo "${ref##*@}" > "$digests/$target"
  echo "$image@${ref##*@}"
done
