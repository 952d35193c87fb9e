#!/usr/bin/env bash
# Static checks, the same for `make lint` and both pipelines: ruff (lint and format),
# hadolint on the Dockerfile, shellcheck on the scripts, and every rendered manifest
# validated (python -m deploy.validate_manifests), the GitHub workflows against their schema.
#
#   deploy/lint.sh            # tools from BIN (default .venv/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.venv/bin}

"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/hadolint" --no-color --failure-threshold style Dockerfile
"$bin/shellcheck" deploy/*.sh scripts/install-system-deps.sh
"$bin/python" -m deploy.validate_manifests "$bin/kubectl"
"$bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
