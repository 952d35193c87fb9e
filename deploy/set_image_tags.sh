#!/bin/sh
# Pin every houseprice/<name> image of a kustomization to REGISTRY/<name>:TAG with
# `kustomize edit set image`. The names are read from the built manifests, so a new image
# (e.g. a new model's training CronJob) is pinned without editing this script or a manifest.
#
#   deploy/set_image_tags.sh [--dry-run] DIR REGISTRY TAG
#
# --dry-run prints the edit commands instead of running them. KUSTOMIZE_BUILD overrides the
# build command (default `kustomize build`; tests use `kubectl kustomize`).
set -eu

dry_run=""
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
if [ "$#" -ne 3 ]; then
  echo "usage: $0 [--dry-run] DIR REGISTRY TAG" >&2
  exit 2
fi
dir=$1
registry=$2
tag=$3

case "$tag" in
  "" | *[!A-Za-z0-9_.-]*)
    echo "invalid image tag: '$tag'" >&2
    exit 2
    ;;
esac

manifests=$(${KUSTOMIZE_BUILD:-kustomize build} "$dir")
names=$(printf '%s\n' "$manifests" \
  | sed -n 's#^[[:space:]]*image:[[:space:]]*\(houseprice/[a-z0-9._-]*\)[[:space:]]*$#\1#p' \
  | sort -u)
if [ -z "$names" ]; then
  echo "no houseprice/* image referenced under $dir" >&2
  exit 1
fi

for name in $names; do
  ref="$registry/${name#houseprice/}:$tag"
  if [ -n "$dry_run" ]; then
    echo "kustomize edit set image $name=$ref"
  else
    (cd "$dir" && kustomize edit set image "$name=$ref")
    echo "$name -> $ref"
  fi
done
