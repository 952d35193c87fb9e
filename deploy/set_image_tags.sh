#!/bin/sh
# Pin every houseprice/<name> image of a kustomization to REGISTRY/<name>:TAG@DIGEST with
# `kustomize edit set image`. The names are read from the built manifests, so a new image is
# pinned without editing this script or a manifest; the digests are the files
# deploy/build_images.sh wrote (DIGESTS_DIR/<name>), so what runs is exactly what was pushed.
#
#   deploy/set_image_tags.sh [--dry-run] DIR REGISTRY TAG DIGESTS_DIR
#
# --dry-run prints the edit commands instead of running them. KUSTOMIZE_BUILD overrides the
# build command (default `kustomize build`; tests use `kubectl kustomize`).
set -eu

dry_run=""
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
if [ "$#" -ne 4 ]; then
  echo "usage: $0 [--dry-run] DIR REGISTRY TAG DIGESTS_DIR" >&2
  exit 2
fi
dir=$1
registry=$2
tag=$3
digests=$4

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
  short=${name#houseprice/}
  if [ ! -f "$digests/$short" ]; then
    echo "no digest for $short in $digests: was it built and pushed?" >&2
    exit 1
  fi
  digest=$(cat "$digests/$short")
  case "$digest" in
    sha256:????????????????????????????????????????????????????????????????) ;;
    *)
      echo "invalid digest for $short: '$digest'" >&2
      exit 1
      ;;
  esac
  ref="$registry/$short:$tag@$digest"
  if [ -n "$dry_run" ]; then
    echo "kustomize edit set image $name=$ref"
  else
    (cd "$dir" && kustomize edit set image "$name=$ref")
    echo "$name -> $ref"
  fi
done
