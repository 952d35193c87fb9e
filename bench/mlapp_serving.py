"""Benchmark: mlapp under gunicorn against `mlflow models serve`, same model, same run.

The model is the champion `make up` promotes (`blend` today; `--models` measures
others). It is trained on the sample dataset, logged and registered in a throwaway
MLflow server and given the alias `champion`, exactly as the trainer does. Then three
servers run side by side on 127.0.0.1, and each concurrency level is measured on each
server in turn (alternated, so a change in the machine's load hits all of them):

- mlapp: `gunicorn -c mlapp/gunicorn.conf.py`, 2 workers (gthread, keep-alive), batching
  with its default settings, POST /predict;
- mlapp, BATCHING=off: the same without batching (what batching itself buys);
- MLflow: `mlflow models serve -m models:/<name>@champion --env-manager local`
  (its default: one uvicorn worker), POST /invocations.

One-record requests at concurrency 1, 8, 32 and 64 for a bounded time, from `wrk`
when installed (apt-get install wrk), else from a small keep-alive thread pool. All
servers get OMP_NUM_THREADS=1. Every answer is checked first against the model's own
prediction; any non-2xx answer during a run is reported. CPU per request is the
server's processes' user + system time over the answered requests.

    .venv/bin/python bench/mlapp_serving.py [--duration 10] [--write-readme]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"
README = ROOT / "bench" / "README.md"
FOLDERS = ("blend",)  # the champion of `make up`

from houseprice.schema import FEATURE_NAMES, PRICE, validate_frame  # noqa: E402
from tests.support.servers import (  # noqa: E402
    VENV_BIN,
    free_port,
    mlflow_server,
    start,
    stop,
    wait_for_http,
)
from tests.support.services import gunicorn_service  # noqa: E402

COMMON_ENV = {
    "OMP_NUM_THREADS": "1",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
}


@dataclass(frozen=True)
class Result:
    server: str
    model: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # server CPU time per answered request, all its processes
    load: float  # 1-minute load average when the level finished

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


# -- model registration --------------------------------------------------------------


def register(tracking_uri: str, folder: str, sample: pd.DataFrame) -> tuple[str, Any]:
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow import MlflowClient

    spec = importlib.util.spec_from_file_location(
        f"bench_{folder}", ROOT / "models" / folder / "model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    features = sample.loc[:, list(FEATURE_NAMES)]
    model = module.build_model().fit(features, sample[PRICE.name].to_numpy(float))

    name = f"bench-{folder.replace('_', '-')}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{name}/{folder}")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            input_example=features.head(3),
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
            pip_requirements=["mlflow", "scikit-learn", "skops", "pandas"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri=tracking_uri)
    client.set_model_version_tag(name, version, "model_folder", folder)
    client.set_model_version_tag(name, version, "dataset_version", "sample")
    client.set_registered_model_alias(name, "champion", version)
    return name, model


# -- the two servers ------------------------------------------------------------------


@contextlib.contextmanager
def mlapp(tracking_uri: str, name: str, workdir: Path, **extra: str) -> Iterator[tuple[str, int]]:
    env = {
        **COMMON_ENV,
        **extra,
        "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "REGISTERED_MODEL_NAME": name,
        "MODEL_POLL_SECONDS": "10",
        "HTTP_TIMEOUT_SECONDS": "60",
        "GUNICORN_CMD_ARGS": f"--pid {workdir / 'gunicorn.pid'}",
    }
    with gunicorn_service("mlapp", env, workdir, workers=2) as url:
        deadline = time.monotonic() + 180
        while requests.get(f"{url}/ready", timeout=60).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("mlapp never became ready")
            time.sleep(0.5)
        yield url, int((workdir / "gunicorn.pid").read_text())


@contextlib.contextmanager
def mlflow_serve(tracking_uri: str, name: str, workdir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = workdir / f"mlflow-serve-{name}.log"
    proc = start(
        [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{name}@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        log,
        # It runs `uvicorn` by name: the venv's bin must be on PATH.
        env={
            **COMMON_ENV,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/ping", proc, timeout=180)
        except (RuntimeError, TimeoutError):
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        yield url, proc.pid
    finally:
        stop(proc)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and all its descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            # Fields after the parenthesised command name: utime and stime are 12th and 13th.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total


# -- load generation ------------------------------------------------------------------


def run_wrk(url: str, body: str, concurrency: int, duration: int, workdir: Path) -> dict:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    done = subprocess.run(
        [
            "wrk",
            # One thread: wrk then takes at most one of the machine's cores, the same for
            # every server, and one thread keeps up with 64 connections at these rates.
            "-t",
            "1",
            "-c",
            str(concurrency),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))
    seconds = _seconds(*re.search(r"requests in ([\d.]+)(\w+)", out).groups())
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read \d+, write (\d+), timeout (\d+)", out)
    # Read "errors" are connections the server closed between requests: not failed requests.
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(x) for x in socket.groups()) if socket else 0
    )
    return {
        "requests": total,
        "seconds": seconds,
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "errors": errors,
    }


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"s": 1.0, "m": 60.0, "ms": 0.001}[unit]


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_threads(url: str, body: str, concurrency: int, duration: int, workdir: Path) -> dict:
    """Fallback generator: one keep-alive connection per thread (reconnects when closed)."""
    target = url.removeprefix("http://")
    host, _, rest = target.partition("/")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    payload = body.encode()
    headers = {"Content-Type": "application/json"}
    deadline = time.perf_counter() + duration

    def worker() -> None:
        mine: list[float] = []
        conn = http.client.HTTPConnection(host, timeout=10)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                conn.request("POST", "/" + rest, payload, headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 300
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors[0],
    }


# -- driver ----------------------------------------------------------------------------


def measure_level(
    server: str,
    folder: str,
    url: str,
    pid: int,
    body: str,
    concurrency: int,
    duration: int,
    workdir: Path,
    generator: str,
) -> Result:
    generate = run_wrk if generator == "wrk" else run_threads
    # A short warm-up so every server starts each level from the same state.
    generate(url, body, concurrency, 1, workdir)
    cpu = tree_cpu_seconds(pid)
    got = generate(url, body, concurrency, duration, workdir)
    cpu_ms = (tree_cpu_seconds(pid) - cpu) * 1000 / max(got["requests"], 1)
    result = Result(server, folder, concurrency, **got, cpu_ms=cpu_ms, load=os.getloadavg()[0])
    print(
        f"{server:15s} {folder:12s} c={concurrency:<3d} {result.rps:8.0f} req/s "
        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
        f"cpu {result.cpu_ms:5.2f} ms/req  errors {result.errors}"
        f"  (load avg {result.load:.1f})",
        flush=True,
    )
    return result


def check_answers(mlapp_url: str, mlflow_url: str, record: dict, expected: float) -> None:
    """Both servers must give the model's price before their speed means anything."""
    ours = requests.post(f"{mlapp_url}/predict", json=record, timeout=60).json()["price"]
    theirs = requests.post(
        f"{mlflow_url}/invocations",
        json={"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [list(record.values())]}},
        timeout=60,
    ).json()["predictions"][0]
    assert abs(ours - expected) < 0.01, (ours, expected)
    assert abs(theirs - expected) < 0.01, (theirs, expected)


SERVERS = ("mlapp", "mlapp unbatched", "mlflow")


def table(results: list[Result]) -> str:
    lines = [
        "| model | concurrency | server | req/s | p50 / p99 ms | CPU ms/req "
        "| throughput vs MLflow | CPU vs MLflow |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_key = {(r.server, r.model, r.concurrency): r for r in results}
    levels = sorted({(r.model, r.concurrency) for r in results}, key=lambda k: (k[0], k[1]))
    for model, concurrency in levels:
        theirs = by_key.get(("mlflow", model, concurrency))
        for server in SERVERS:
            ours = by_key.get((server, model, concurrency))
            if ours is None:
                continue
            ratio = f"{ours.rps / theirs.rps:.1f}x" if theirs and server != "mlflow" else ""
            cpu = (
                f"{theirs.cpu_ms / max(ours.cpu_ms, 1e-9):.1f}x"
                if theirs and server != "mlflow"
                else ""
            )
            lines.append(
                f"| {model} | {concurrency} | {server} | {ours.rps:,.0f} "
                f"| {ours.p50_ms:.2f} / {ours.p99_ms:.2f} | {ours.cpu_ms:.2f} | {ratio} | {cpu} |"
            )
    return "\n".join(lines)


def notes(results: list[Result]) -> str:
    """What the numbers say about the targets, computed from them (a rerun keeps it true)."""
    by_key = {(r.server, r.model, r.concurrency): r for r in results}
    lines = []
    for model in sorted({r.model for r in results}):
        ours, theirs = by_key.get(("mlapp", model, 8)), by_key.get(("mlflow", model, 8))
        if ours and theirs:
            ratio = ours.rps / theirs.rps
            lines.append(
                f"- {model}, concurrency 8: mlapp answers {ratio:.1f}x MLflow's throughput "
                f"(aim: 30x, {'met' if ratio >= 30 else 'not met'}) with p99 "
                f"{ours.p99_ms:.1f} ms (aim: under 10 ms, "
                f"{'met' if ours.p99_ms < 10 else 'not met'}); server CPU per request "
                f"{ours.cpu_ms:.2f} ms against {theirs.cpu_ms:.2f} ms "
                f"({theirs.cpu_ms / max(ours.cpu_ms, 1e-9):.1f}x less)."
            )
        single = by_key.get(("mlapp", model, 1))
        if single:
            lines.append(
                f"- {model}, concurrency 1: mlapp p50 {single.p50_ms:.2f} ms (aim: under 2 ms, "
                f"{'met' if single.p50_ms < 2 else 'not met'})."
            )
        plain = by_key.get(("mlapp unbatched", model, 32))
        batched = by_key.get(("mlapp", model, 32))
        if plain and batched:
            lines.append(
                f"- {model}, concurrency 32: batching gives {batched.rps / plain.rps:.1f}x the "
                f"throughput of the same mlapp with BATCHING=off, at "
                f"{batched.cpu_ms:.2f} against {plain.cpu_ms:.2f} ms CPU per request."
            )
    lines.append(
        "- CPU per request is the steadier comparison on a shared machine: wall-clock "
        "throughput and latency move with the other work, CPU time much less. "
        "Every server's numbers include its per-request log line and the kernel's TCP work "
        "in its processes; the load generator's CPU is not counted."
    )
    return "\n".join(lines)


def write_readme(results: list[Result], duration: int, generator: str) -> None:
    errors = sum(r.errors for r in results)
    section = (
        "## Serving\n\n"
        "`bench/mlapp_serving.py`: mlapp (gunicorn, 2 workers: gthread with a busy keep-alive\n"
        "connection kept on its thread, adaptive batching, `POST /predict`), the same mlapp\n"
        "with `BATCHING=off`, and `mlflow models serve --env-manager local` (one uvicorn\n"
        "worker, `POST /invocations`) for the same registered champion, all three up side by\n"
        "side, each level measured on each server in turn.\n"
        f"One-record requests, {duration} s per level after a 1 s warm-up, load from "
        f"{generator}\non the same machine, OMP_NUM_THREADS=1 for all, each with its default "
        f"request logging.\nMachine: {os.cpu_count()} cores (1-minute load average during "
        f"the runs, the benchmark's own\nprocesses included: {min(r.load for r in results):.1f} "
        f"to {max(r.load for r in results):.1f}).\n"
        f"Failed requests across all runs: {errors}.\n\n"
        f"{table(results)}\n\n"
        f"{notes(results)}\n\n"
        "Rerun: `.venv/bin/python bench/mlapp_serving.py --write-readme`.\n"
    )
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Serving\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--models", nargs="+", default=list(FOLDERS))
    parser.add_argument(
        "--generator", choices=["wrk", "threads"], help="default: wrk when installed"
    )
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    folders = [f for f in args.models if (ROOT / "models" / f / "model.py").is_file()]
    generator = args.generator or ("wrk" if shutil.which("wrk") else "threads")
    print(f"load generator: {generator}; models: {', '.join(folders)}", flush=True)

    sample, _ = validate_frame(pd.read_csv(SAMPLE))
    record = json.loads(sample.loc[:, list(FEATURE_NAMES)].head(1).to_json(orient="records"))[0]
    body = json.dumps(record)
    invocation = json.dumps(
        {"dataframe_split": {"columns": list(record), "data": [list(record.values())]}}
    )
    os.environ.update(COMMON_ENV)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        workdir = Path(tmp)
        with mlflow_server(workdir / "mlflow") as tracking_uri:
            registered = {f: register(tracking_uri, f, sample) for f in folders}
            for folder, (name, model) in registered.items():
                expected = float(model.predict(sample.loc[:, list(FEATURE_NAMES)].head(1))[0])
                with contextlib.ExitStack() as servers:
                    mlflow_url, mlflow_pid = servers.enter_context(
                        mlflow_serve(tracking_uri, name, workdir)
                    )
                    batched_url, batched_pid = servers.enter_context(
                        mlapp(tracking_uri, name, workdir / f"mlapp-{folder}")
                    )
                    plain_url, plain_pid = servers.enter_context(
                        mlapp(tracking_uri, name, workdir / f"plain-{folder}", BATCHING="off")
                    )
                    check_answers(batched_url, mlflow_url, record, expected)
                    check_answers(plain_url, mlflow_url, record, expected)
                    targets = {
                        "mlapp": (f"{batched_url}/predict", batched_pid, body),
                        "mlapp unbatched": (f"{plain_url}/predict", plain_pid, body),
                        "mlflow": (f"{mlflow_url}/invocations", mlflow_pid, invocation),
                    }
                    for concurrency in args.concurrency:
                        for server in SERVERS:
                            url, pid, payload = targets[server]
                            results.append(
                                measure_level(
                                    server,
                                    folder,
                                    url,
                                    pid,
                                    payload,
                                    concurrency,
                                    args.duration,
                                    workdir,
                                    generator,
                                )
                            )
    print()
    print(table(results))
    print()
    print(notes(results))
    if args.write_readme:
        described = "wrk (one thread)" if generator == "wrk" else "a Python keep-alive thread pool"
        write_readme(results, args.duration, described)
        print(f"\nwritten to {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
