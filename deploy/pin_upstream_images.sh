#!/usr/bin/env bash
# Resolve the digest of each upstream IMAGE (repo:tag, as the kustomizations pin it) and write
# it to DIGESTS_DIR/upstream/<repo:tag with / and : as _>, for deploy/set_image_tags.sh.
#
#   deploy/pin_upstream_images.sh [--dry-run] IMAGE...
#
# DIGESTS_DIR defaults to /workspace/digests (Cloud Build's shared workspace).
set -euo pipefail

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then
  dry_run=1
  shift
fi
if [[ $# -lt 1 ]]; then
  echo "usage: $0 [--dry-run] IMAGE..." >&2
  exit 2
fi
out=${DIGESTS_DIR:-/workspace/digests}/upstream

for image in "$@"; do
  if [[ ! "$image" =~ ^[a-z0-9][a-z0-9./_-]*:[A-Za-z0-9_.-]+$ ]]; then
    echo "not a repo:tag image: '$image'" >&2
    exit 2
  fi
  file="$out/$(tr '/:' '__' <<<"$image")"
  if [[ -n "$dry_run" ]]; then
    echo "docker pull $image"
    echo "record $file"
    continue
  fi
  mkdir -p "$out"
  docker pull --quiet "$image" >/dev/null
  ref=$(docker image inspect --format '{{index .RepoDigests 0}}' "$image")
  echo "${ref##*@}" > "$file"
  echo "$image@${ref##*@}"
done
