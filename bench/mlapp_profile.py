"""Profile: where one `POST /predict` spends its CPU inside mlapp, by part of the path.

The served model (default `blend`, the champion `make up` promotes) is trained on the
sample dataset and prepared exactly as mlapp prepares a loaded version; the app is
called through its WSGI entry point (no socket, no gunicorn) with BATCHING=off, so one
thread does all the work and cProfile sees all of it. Each part's CPU is the
cumulative time of the functions that do it, per request:

    .venv/bin/python bench/mlapp_profile.py [--model blend] [--requests 3000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from houseprice.schema import FEATURE_NAMES, validate_frame  # noqa: E402
from houseprice.settings import Settings  # noqa: E402
from tests.mlapp.conftest import train  # noqa: E402

SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"

# Part of the request path -> (file fragment, function name) whose cumulative time it is.
PARTS = {
    "whole request (WSGI call)": ("flask/app.py", "wsgi_app"),
    "model predict (lean)": ("mlapp/batching.py", "predict_rows"),
    "validation (schema.validate_features)": ("houseprice/schema.py", "validate_features"),
    "JSON decode": ("json/__init__.py", "loads"),
    "JSON encode": ("json/__init__.py", "dumps"),
    "request log line (after_request)": ("houseprice/web.py", "_finish"),
    "request id (before_request)": ("houseprice/web.py", "_start"),
    "metrics: counter inc": ("prometheus_client/metrics.py", "inc"),
    "metrics: histogram observe": ("prometheus_client/metrics.py", "observe"),
    "metrics: gauge set": ("prometheus_client/metrics.py", "set"),
    "metrics: labels()": ("prometheus_client/metrics.py", "labels"),
}


def build_app(model_folder: str, workdir: Path):
    from mlapp.app import create_app
    from mlapp.batching import BatchSettings
    from mlapp.model_store import Champion, prepare
    from mlapp.predict import STORE_KEY

    sample, _ = validate_frame(pd.read_csv(SAMPLE))
    model = train(sample, model_folder)
    settings = Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(workdir),
            # Nothing listens here: the poller's lookups fail and the prepared model stays.
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
            "MODEL_POLL_SECONDS": "3600",
        }
    )
    app = create_app(settings, BatchSettings(enabled=False))
    probe = sample.loc[:, list(FEATURE_NAMES)].head(3).to_numpy(dtype=object)
    champion = Champion("house-price", "1", "bench", {"model_folder": model_folder})
    served = prepare(model, probe, champion, time.perf_counter())
    app.extensions[STORE_KEY].current = served
    record = json.loads(sample.loc[:, list(FEATURE_NAMES)].head(1).to_json(orient="records"))[0]
    return app, json.dumps(record).encode(), model, served, probe[:1]


def predict_cpu_ms(predict, row, calls: int = 300) -> float:
    for _ in range(20):
        predict(row)
    started = time.process_time()
    for _ in range(calls):
        predict(row)
    return (time.process_time() - started) * 1000 / calls


def call(app, body: bytes) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/predict",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    status: list[str] = []
    chunks = app(environ, lambda s, h, e=None: status.append(s))
    b"".join(chunks)
    assert status[0].startswith("200"), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="blend")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    import logging
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        # Metrics as under gunicorn: multiprocess files, one write per sample.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(Path(tmp) / "prom")
        (Path(tmp) / "prom").mkdir()
        app, body, model, served, row = build_app(args.model, Path(tmp))
        # Log lines go where gunicorn sends them (a stream), not to this terminal.
        for handler in logging.getLogger().handlers:
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
        for _ in range(200):
            call(app, body)
        cpu = time.process_time()
        for _ in range(args.requests):
            call(app, body)
        plain_ms = (time.process_time() - cpu) * 1000 / args.requests
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            call(app, body)
        profile.disable()
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    whole = _cumulative(stats, *PARTS["whole request (WSGI call)"])
    print(f"model {args.model}: {plain_ms:.3f} ms CPU per request without the profiler")
    theirs = predict_cpu_ms(model.predict, row)
    ours = predict_cpu_ms(served.predict, row)
    print(
        f"one-row predict: scikit-learn's model.predict {theirs:.3f} ms CPU, "
        f"mlapp's {served.info.predictor} predict {ours:.3f} ms CPU"
    )
    print("| part of POST /predict | share of the request | ms CPU per request |")
    print("| --- | ---: | ---: |")
    for part, (fragment, name) in PARTS.items():
        seconds = _cumulative(stats, fragment, name)
        share = seconds / whole if whole else 0.0
        print(f"| {part} | {share:.0%} | {plain_ms * share:.3f} |")


def _cumulative(stats: dict, fragment: str, name: str) -> float:
    # Recursive entries would count twice; these functions do not recurse.
    return sum(
        ct
        for (file, _, func), (_, _, _, ct, _) in stats.items()
        if func == name and fragment in file
    )


if __name__ == "__main__":
    main()
