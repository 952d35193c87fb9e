#!/bin/sh
# Refuse to deploy an overlay into another project or region than the one it describes:
# its params.env (PROJECT_ID, REGION) must name the build's own.
#
#   deploy/check_overlay.sh overlays/<environment> PROJECT_ID REGION
set -eu
if [ "$#" -ne 3 ]; then
  echo "usage: $0 ENVIRONMENT_DIR PROJECT_ID REGION" >&2
  exit 2
fi
params="$1/project/params.env"
if [ ! -f "$params" ]; then
  echo "no $params: not an environment" >&2
  exit 2
fi
value() {
  sed -n "s/^$1=//p" "$params" | tail -n 1
}
project=$(value PROJECT_ID)
region=$(value REGION)
if [ "$project" != "$2" ] || [ "$region" != "$3" ]; then
  echo "$params describes project '$project' in '$region'; this build is '$2' in '$3'" >&2
  exit 1
fi
echo "$1: project $project, region $region"
