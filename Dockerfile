# Every Python deployable from one file: a shared base (pinned dependencies, the shared
# houseprice package, the non-root user) and one thin target per deployable. Build from the
# repository root, one target at a time:
#   docker build --target webapp --build-arg GIT_COMMIT="$(git rev-parse HEAD)" -t houseprice/webapp .
# Targets: webapp, mlapp, dbapp, data-job, training (every model folder; also runs the
# promotion), bootstrap (first-deploy seeding) and mlflow (the tracking server).

# ---- dependencies: requirements.lock minus the test-only packages, in a venv -------------
FROM python:3.11.11-slim-bookworm AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements.lock deploy/image-excludes.txt deploy/runtime_requirements.py ./
RUN python runtime_requirements.py requirements.lock image-excludes.txt > runtime.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps -r runtime.txt

# ---- the runtime every target starts from: user, dependencies, environment ----------------
FROM python:3.11.11-slim-bookworm AS runtime
# A fixed numeric uid, so Kubernetes can verify runAsNonRoot without a passwd lookup.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin app
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Code runs from /app (PYTHONPATH), not from an installed package: each target copies only
# its own folders. HOME and the metrics directory live under /tmp: the only writable path
# when the root filesystem is mounted read-only. MLflow's usage telemetry (requests to
# mlflow-telemetry.io from every process that imports it) is off: nothing phones home.
ENV PATH=/opt/venv/bin:$PATH \
    MLFLOW_DISABLE_TELEMETRY=true \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc
# The commit the image was built from; training runs record it (houseprice.registry).
# Declared after the heavy layers, so a new commit rebuilds only what follows.
ARG GIT_COMMIT=unknown
ENV GIT_COMMIT=${GIT_COMMIT}
USER 10001:10001

# MLflow tracking server and model registry: the `mlflow server` CLI (never an imported app
# object, which would ignore the backend flags), PostgreSQL backend (MLFLOW_BACKEND_STORE_URI,
# from a Secret), artifacts in BUCKET_3 served through the server (mlflow/README.md).
FROM runtime AS mlflow
WORKDIR /tmp
EXPOSE 5000
# MLflow's server-side jobs (GenAI evaluation) are unused; on, they add eight processes.
ENV MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
# /health answers whatever the Host header; the API only for the --allowed-hosts below.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
CMD ["sh", "-c", "exec mlflow server --backend-store-uri \"${MLFLOW_BACKEND_STORE_URI:?MLFLOW_BACKEND_STORE_URI is not set}\" --artifacts-destination \"${BUCKET_3:?BUCKET_3 is not set}\" --host 0.0.0.0 --port 5000 --allowed-hosts \"mlflow.ml.svc.cluster.local*,mlflow*,localhost*,127.0.0.1*\" --workers 2"]

# The Python deployables: the shared package on top of the runtime.
FROM runtime AS base
COPY houseprice/ houseprice/

# ---- services --------------------------------------------------------------------------------
FROM base AS webapp
COPY webapp/ webapp/
# Past sales the form takes its suggestions and defaults from (WEBAPP_SAMPLE_CSV).
COPY sample_dataset/house_sales_2014-05_to_06.csv sample_dataset/
ENV BIND=0.0.0.0:8000 \
    WEBAPP_SAMPLE_CSV=/app/sample_dataset/house_sales_2014-05_to_06.csv
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["gunicorn", "-c", "webapp/gunicorn.conf.py", "webapp.app:create_app()"]

FROM base AS mlapp
COPY mlapp/ mlapp/
ENV BIND=0.0.0.0:8001
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=4)"]
CMD ["gunicorn", "-c", "mlapp/gunicorn.conf.py", "mlapp.app:create_app()"]

FROM base AS dbapp
COPY dbapp/ dbapp/
ENV BIND=0.0.0.0:8002
EXPOSE 8002
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/health', timeout=4)"]
CMD ["gunicorn", "-c", "dbapp/gunicorn.conf.py", "dbapp.app:create_app()"]

# ---- run-to-completion jobs: Kubernetes tracks them by exit code, so no HEALTHCHECK --------
FROM base AS data-job
COPY data_collection_and_versioning/ data_collection_and_versioning/
CMD ["python", "-m", "data_collection_and_versioning"]

# Every model folder ships: each training CronJob passes its folder
# (`python -m training train <folder>`), and the promotion CronJob runs from this image too.
FROM base AS training
COPY training/ training/
COPY promotion/ promotion/
COPY models/ models/
ENV MODELS_DIR=/app/models
CMD ["python", "-m", "training", "leaderboard"]

# Seeds the sample sales into BUCKET_1 on an empty platform, once (deploy/bootstrap.py).
FROM base AS bootstrap
COPY deploy/__init__.py deploy/bootstrap.py deploy/
COPY sample_dataset/house_sales_2014-05_to_06.csv sample_dataset/
CMD ["python", "-m", "deploy.bootstrap", "/app/sample_dataset/house_sales_2014-05_to_06.csv"]
