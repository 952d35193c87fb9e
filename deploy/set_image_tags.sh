#!/bin/sh
# Pin every image of a kustomization by digest with `kustomize edit set image`:
#   houseprice/<name>  -> REGISTRY/<name>:TAG@DIGEST, DIGEST from DIGESTS_DIR/<name>
#                         (written by deploy/build_images.sh: what runs is what was pushed)
#   upstream repo:tag  -> repo:tag@DIGEST, DIGEST from DIGESTS_DIR/upstream/<repo:tag, / and :
#                         as _> (written by deploy/pin_upstream_images.sh)
# The names are read from the built manifests, so a new image is pinned without editing this
# script or a manifest, and an image without a digest stops the deploy.
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
images=$(printf '%s\n' "$manifests" \
  | sed -n 's#^[[:space:]]*image:[[:space:]]*\([a-z0-9][a-z0-9./:_-]*\)[[:space:]]*$#\1#p' \
  | sort -u)
if ! printf '%s\n' "$images" | grep -q '^houseprice/'; then
  echo "no houseprice/* image referenced under $dir" >&2
  exit 1
fi

digest_of() { # FILE WHAT
  if [ ! -f "$1" ]; then
    echo "no digest for $2 in $digests: was it built and pushed (or pinned)?" >&2
    exit 1
  fi
  value=$(cat "$1")
  case "$value" in
    sha256:????????????????????????????????????????????????????????????????) echo "$value" ;;
    *)
      echo "invalid digest for $2: '$value'" >&2
      exit 1
      ;;
  esac
}

for image in $images; do
  case "$image" in
    houseprice/*)
      name=$image
      short=${image#houseprice/}
      digest=$(digest_of "$digests/$short" "$short")
      ref="$registry/$short:$tag@$digest"
      ;;
    *:*)
      name=${image%:*}
      digest=$(digest_of "$digests/upstream/$(printf '%s' "$image" | tr '/:' '__')" "$image")
      ref="$image@$digest"
      ;;
    *)
      echo "upstream image without a tag: '$image'" >&2
      exit 1
      ;;
  esac
  if [ -n "$dry_run" ]; then
    echo "kustomize edit set image $name=$ref"
  else
    (cd "$dir" && kustomize edit set image "$name=$ref")
    echo "$name -> $ref"
  fi
done
