#!/usr/bin/env bash
# Start a Job from a (suspended) CronJob template and wait until it succeeds or fails, then
# print its logs. Used by the ML pipeline for the MLflow database upgrade and the bootstrap.
#
#   deploy/run_job.sh NAMESPACE CRONJOB RUN_ID [TIMEOUT_SECONDS]
#
# The Job is called CRONJOB-RUN_ID (e.g. the build id), so a retried build step finds its own
# Job instead of starting a second one. Exit status 0 only when the Job completed.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: $0 NAMESPACE CRONJOB RUN_ID [TIMEOUT_SECONDS]" >&2
  exit 2
fi
namespace=$1
cronjob=$2
run_id=$3
timeout=${4:-3600}
job="$cronjob-$run_id"
if [[ ! "$job" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]; then
  echo "invalid job name: '$job'" >&2
  exit 2
fi

if ! kubectl -n "$namespace" get "job/$job" >/dev/null 2>&1; then
  kubectl -n "$namespace" create job "$job" --from="cronjob/$cronjob"
fi

deadline=$((SECONDS + timeout))
status=""
while ((SECONDS < deadline)); do
  status=$(kubectl -n "$namespace" get "job/$job" \
    -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{"\n"}{end}')
  if grep -qx -e Complete -e Failed <<<"$status"; then
    break
  fi
  sleep 10
done

kubectl -n "$namespace" logs "job/$job" --all-containers --prefix --tail=200 || true
if grep -qx Complete <<<"$status"; then
  echo "job/$job completed"
  exit 0
fi
echo "job/$job did not complete (conditions: ${status:-none})" >&2
exit 1
