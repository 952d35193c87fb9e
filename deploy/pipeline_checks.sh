#!/usr/bin/env bash
# The first step of each Cloud Build pipeline: nothing is built, pushed or applied unless this
# exits 0. Installs the pinned environment and the Debian packages the tests use, runs
# deploy/lint.sh, then the tests of everything the pipeline ships plus the deployment checks:
#
#   ml   tests/houseprice tests/data_collection_and_versioning tests/training tests/promotion
#        tests/models tests/mlapp tests/mlflow tests/deploy
#   web  tests/houseprice tests/webapp tests/dbapp tests/deploy
#
# (the README's `make test` runs all of them; tests/test_loop.py, the slow end-to-end loop,
# is left to it and to GitHub Actions).
#
#   deploy/pipeline_checks.sh ml|web
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  ml)
    suites=(tests/houseprice tests/data_collection_and_versioning tests/training tests/promotion
      tests/models tests/mlapp tests/mlflow tests/deploy)
    ;;
  web)
    suites=(tests/houseprice tests/webapp tests/dbapp tests/deploy)
    ;;
  *)
    echo "usage: $0 ml|web" >&2
    exit 2
    ;;
esac

python -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements.lock
.venv/bin/pip install --quiet --no-deps -e .
bash scripts/install-system-deps.sh

bash deploy/lint.sh
# Exit code 5 (no tests collected) is a failure too: set -e stops on any non-zero status.
.venv/bin/python -m pytest -q -p no:cacheprovider "${suites[@]}"
