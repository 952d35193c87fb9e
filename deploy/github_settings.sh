#!/usr/bin/env bash
# Set a GitHub repository's secrets and variables from two env files (KEY=value per line):
#   gh secret set -f SECRETS_FILE    and    gh variable set -f VARIABLES_FILE
# The templates are .github/secrets.env.example and .github/variables.env.example; the filled
# copies (default .github/secrets.env and .github/variables.env) are ignored by git. A file
# that still holds REPLACE_ME, or a key the template does not list, is refused before anything
# is sent.
#
#   deploy/github_settings.sh [--dry-run] OWNER/REPO [SECRETS_FILE [VARIABLES_FILE]]
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then
  dry_run=1
  shift
fi
if [[ $# -lt 1 || $# -gt 3 || ! "$1" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
  echo "usage: $0 [--dry-run] OWNER/REPO [SECRETS_FILE [VARIABLES_FILE]]" >&2
  exit 2
fi
repo=$1
secrets=${2:-.github/secrets.env}
variables=${3:-.github/variables.env}

keys() { # FILE: the keys it sets, sorted
  sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$1" | sort
}

check() { # FILE TEMPLATE
  if [[ ! -f "$1" ]]; then
    echo "$1 is missing: copy $2 and fill it in" >&2
    exit 1
  fi
  if grep -q 'REPLACE_ME' "$1"; then
    echo "$1 still holds REPLACE_ME values" >&2
    exit 1
  fi
  if [[ "$(keys "$1")" != "$(keys "$2")" ]]; then
    echo "$1 must set exactly the keys of $2" >&2
    exit 1
  fi
}

check "$secrets" .github/secrets.env.example
check "$variables" .github/variables.env.example
if [[ -n "$dry_run" ]]; then
  echo "gh secret set --repo $repo -f $secrets"
  echo "gh variable set --repo $repo -f $variables"
  exit 0
fi
gh secret set --repo "$repo" -f "$secrets"
gh variable set --repo "$repo" -f "$variables"
echo "$repo: $(keys "$secrets" | wc -l) secrets, $(keys "$variables" | wc -l) variables set"
