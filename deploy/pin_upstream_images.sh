#!/usr/bin/env bash
# Resolve the digest of every upstream image a kustomization pins by tag (its `images:` entries
# with a `newTag`, other than houseprice/*) and write it to
# DIGESTS_DIR/upstream/<repo:tag with / and : as _>, for deploy/set_image_tags.sh. Reading the
# list from the kustomization means an image added there is pinned without editing a pipeline.
#
#   deploy/pin_upstream_images.sh [--dry-run] KUSTOMIZATION_YAML
#
# DIGESTS_DIR defaults to /workspace/digests (Cloud Build's shared workspace).
set -euo pipefail

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then
  dry_run=1
  shift
fi
if [[ $# -ne 1 || ! -f "$1" ]]; then
  echo "usage: $0 [--dry-run] KUSTOMIZATION_YAML" >&2
  exit 2
fi
out=${DIGESTS_DIR:-/workspace/digests}/upstream

# `- name: repo` followed by `newTag: tag` under images: -> repo:tag
images=$(sed -n '/^images:/,/^[^ #-]/p' "$1" | awk '
  $1 == "-" && $2 == "name:" { name = $3; next }
  $1 == "newTag:" && name != "" && name !~ /^houseprice\// { print name ":" $2; name = "" }
')
if [[ -z "$images" ]]; then
  echo "no upstream image pinned by tag in $1" >&2
  exit 1
fi

for image in $images; do
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
