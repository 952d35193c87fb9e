#!/usr/bin/env bash
# Build and push one training image per model folder: every models/<name>/model.py becomes
# REGISTRY/train-<name with - for _>:TAG, built from models/Dockerfile with MODEL_NAME=<name>.
# The folder rule and the naming match deploy/gen_model_cronjobs.py (checked in tests/deploy).
#
#   deploy/build_model_images.sh [--dry-run] REGISTRY TAG
#
# --dry-run prints the docker commands instead of running them.
set -euo pipefail

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then
  dry_run=1
  shift
fi
if [[ $# -ne 2 ]]; then
  echo "usage: $0 [--dry-run] REGISTRY TAG" >&2
  exit 2
fi
registry=$1
tag=$2

run() {
  if [[ -n "$dry_run" ]]; then
    echo "$*"
  else
    "$@"
  fi
}

built=0
for model_file in models/*/model.py; do
  [[ -f "$model_file" ]] || continue
  name=$(basename "$(dirname "$model_file")")
  # Same rule as training.discovery: lowercase, digits, "_"; no leading "_".
  [[ "$name" =~ ^[a-z0-9_]+$ && "$name" != _* ]] || continue
  image="$registry/train-${name//_/-}:$tag"
  run docker build -f models/Dockerfile --build-arg "MODEL_NAME=$name" -t "$image" .
  run docker push "$image"
  built=$((built + 1))
done

if [[ "$built" -eq 0 ]]; then
  echo "no models/<name>/model.py found" >&2
  exit 1
fi
