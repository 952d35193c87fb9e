#!/usr/bin/env bash
# Debian packages the test suite needs: a browser for the UI tests, Prometheus for
# the scraping tests, PostgreSQL for the MLflow-on-PostgreSQL test, git for the build-context
# tests (slim images, such as the pipelines' checks step, lack it).
#
# Debian's prometheus and postgresql packages start system services on install. The suite runs
# its own servers, so no service of a package installed here may start: a policy-rc.d that
# refuses every start is in place during the install (invoke-rc.d and deb-systemd-invoke obey
# it), and the units are disabled afterwards so they do not start at the next boot either.
# Nothing is ever stopped or killed: a Prometheus or PostgreSQL the machine already ran is
# left alone (and then its package was already installed, so this script installs nothing).
set -euo pipefail
missing=()
# The deployment tests read the build context and ignore rules from git.
command -v git >/dev/null 2>&1 || missing+=(git)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

policy=/usr/sbin/policy-rc.d
if $SUDO test -e "$policy"; then
  echo "system packages: keeping the existing $policy" # the machine's own policy decides
else
  # Exit status 101: "action forbidden by policy". Removed again however the install ends.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

# Only the units of packages installed just now (those that have one), and only their
# boot-time start.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for package in "${missing[@]}"; do
    if systemctl cat "$package.service" >/dev/null 2>&1; then
      $SUDO systemctl disable "$package.service" || true
    fi
  done
fi
