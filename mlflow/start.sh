#!/bin/sh
# Start the MLflow tracking server and model registry through its command line (never by
# importing its app object, which would silently ignore the storage flags).
#
# Environment (defaults are for one machine, no cloud):
#   MLFLOW_BACKEND_STORE_URI  runs, metrics, registry: sqlite:///ABSOLUTE/PATH/mlflow.db or
#                             postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB
#                             (default: sqlite in $HOUSEPRICE_DATA_DIR/mlflow/, .data by default)
#   BUCKET_3                  artifacts (the models): a directory or gs://bucket[/prefix];
#                             served through this server, so clients need no bucket access
#                             (default: $HOUSEPRICE_DATA_DIR/bucket_3)
#   MLFLOW_HOST               address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
#   MLFLOW_PORT               port (default 5000)
#   MLFLOW_ALLOWED_HOSTS      Host headers the API accepts; the port is part of the match,
#                             hence the wildcards (default "localhost*,127.0.0.1*")
#   MLFLOW_WORKERS            server worker processes (default 1)
#   MLFLOW_SERVER_ENABLE_JOB_EXECUTION
#                             MLflow's server-side jobs (GenAI evaluation); unused by the
#                             platform, and eight more processes when on (default false)
set -eu
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

data_dir="${HOUSEPRICE_DATA_DIR:-.data}"
mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"

if [ -z "${MLFLOW_BACKEND_STORE_URI:-}" ]; then
    mkdir -p "$data_dir/mlflow"
    MLFLOW_BACKEND_STORE_URI="sqlite:///$data_dir/mlflow/mlflow.db"
fi
artifacts="${BUCKET_3:-$data_dir/bucket_3}"
case "$artifacts" in
    gs://*|file://*) ;;
    *) mkdir -p "$artifacts" ;;
esac

exec mlflow server \
    --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
    --artifacts-destination "$artifacts" \
    --host "${MLFLOW_HOST:-127.0.0.1}" \
    --port "${MLFLOW_PORT:-5000}" \
    --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-localhost*,127.0.0.1*}" \
    --workers "${MLFLOW_WORKERS:-1}"
