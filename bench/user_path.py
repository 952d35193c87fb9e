"""Benchmark: the browser's path, form post -> webapp -> mlapp -> dbapp -> result page.

A throwaway platform runs as real processes: nx-27017, an MLflow server with the
champion `make up` promotes (`blend`, trained on the sample dataset), and dbapp, mlapp
and webapp under gunicorn with their own gunicorn.conf.py (2 workers each). Then N
clients, each a browser-like session (it opens the form once for its CSRF cookie and
token, then posts the form again and again, one sample house after another), post for a
bounded time. A post counts only when it answers 200 with a result page showing a price
that was saved to the history.

The split of the time comes from the services' own request log lines (each logs its
time per request with the shared request id): webapp's whole answer, mlapp's
`POST /predict`, dbapp's `POST /predictions`; what is left is webapp's own work
(form parsing and validation, page rendering, the HTTP client calls).

    .venv/bin/python bench/user_path.py [--concurrency 8] [--duration 20] [--write-readme]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
README = ROOT / "bench" / "README.md"
SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"

from houseprice.schema import FEATURE_NAMES, validate_frame  # noqa: E402
from tests.support.servers import mlflow_server, mongo_server  # noqa: E402
from tests.support.stack import register_champion, wait_until_ready, web_stack  # noqa: E402

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOG_LINE = re.compile(r"request_id=(\S+) (GET|POST) (\S+) (\d{3}) ([\d.]+)ms")


def _forms(n: int) -> list[dict[str, str]]:
    sample, _ = validate_frame(pd.read_csv(SAMPLE))
    records = json.loads(sample.loc[:, list(FEATURE_NAMES)].head(n).to_json(orient="records"))
    return [{k: str(v) for k, v in r.items()} for r in records]


def load(url: str, forms: list[dict[str, str]], concurrency: int, duration: float) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    deadline: list[float] = [0.0]

    def client(offset: int) -> None:
        mine: list[float] = []
        with requests.Session() as session:
            token = _CSRF.search(session.get(f"{url}/", timeout=30).text).group(1)
            start.wait()
            i = offset
            while time.perf_counter() < deadline[0]:
                form = {**forms[i % len(forms)], "csrf_token": token}
                began = time.perf_counter()
                try:
                    response = session.post(f"{url}/", data=form, timeout=30)
                    page = response.text
                    ok = response.status_code == 200 and 'id="price">$' in page
                    problem = "" if ok else f"HTTP {response.status_code}"
                    if ok and "could not be saved" in page:
                        ok, problem = False, "not saved"
                except requests.RequestException as exc:
                    ok, problem = False, type(exc).__name__
                if ok:
                    mine.append(time.perf_counter() - began)
                else:
                    with lock:
                        failures.append(problem)
                i += concurrency
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + duration
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "failures": len(failures),
        "failure_kinds": sorted(set(failures)),
    }


def service_pids(url: str) -> list[int]:
    """The gunicorn master and workers serving `url` (their environment holds its BIND)."""
    marker = f"BIND={url.removeprefix('http://')}".encode() + b"\0"
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def profile_webapp(settings, forms: list[dict[str, str]], requests_: int = 300) -> str:
    """cProfile of webapp's form post in this process, against the running mlapp and dbapp."""
    import cProfile
    import io
    import logging
    import pstats

    from webapp.app import create_app

    app = create_app(settings)
    logging.getLogger().setLevel(logging.WARNING)
    client = app.test_client()
    token = _CSRF.search(client.get("/").get_data(as_text=True)).group(1)
    for i in range(20):
        client.post("/", data={**forms[i % len(forms)], "csrf_token": token})
    profile = cProfile.Profile()
    profile.enable()
    for i in range(requests_):
        client.post("/", data={**forms[i % len(forms)], "csrf_token": token})
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
    return out.getvalue()


def split(workdir: Path) -> dict[str, float]:
    """Median ms per request of each service, from their request log lines."""
    wanted = {
        "webapp": ("webapp.log", "POST", "/"),
        "mlapp": ("mlapp.log", "POST", "/predict"),
        "dbapp": ("dbapp.log", "POST", "/predictions"),
    }
    out = {}
    for service, (log, method, path) in wanted.items():
        text = (workdir / log).read_text(errors="replace")
        times = [
            float(m.group(5))
            for m in _LOG_LINE.finditer(text)
            if m.group(2) == method and m.group(3) == path and m.group(4) in ("200", "201")
        ]
        out[service] = statistics.median(times) if times else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load")
    parser.add_argument("--model", default="blend")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile webapp's post")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    forms = _forms(200)
    with tempfile.TemporaryDirectory(prefix="bench-user-path-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as running:
            mongo_uri = running.enter_context(mongo_server(workdir / "mongo"))
            mlflow_uri = running.enter_context(mlflow_server(workdir / "mlflow"))
            stack = running.enter_context(
                web_stack(
                    mongo_uri,
                    mlflow_uri,
                    workdir / "stack",
                    champion=False,
                    workers=2,
                    env={"OMP_NUM_THREADS": "1"},
                )
            )
            register_champion(mlflow_uri, stack.settings.REGISTERED_MODEL_NAME, args.model)
            wait_until_ready(f"{stack.mlapp_url}/ready", timeout=300)
            load(stack.webapp_url, forms, args.concurrency, 2)  # warm-up
            urls = {"webapp": stack.webapp_url, "mlapp": stack.mlapp_url, "dbapp": stack.dbapp_url}
            pids = {service: service_pids(url) for service, url in urls.items()}
            before = {service: cpu_seconds(p) for service, p in pids.items()}
            result = load(stack.webapp_url, forms, args.concurrency, args.duration)
            result["cpu_ms"] = {
                service: (cpu_seconds(p) - before[service]) * 1000 / max(result["requests"], 1)
                for service, p in pids.items()
            }
            result["load"] = os.getloadavg()[0]
            parts = split(workdir / "stack")
            if args.profile:
                print(profile_webapp(stack.settings, forms))
    line = (
        f"concurrency {args.concurrency}: {result['rps']:.0f} pages/s, p50 "
        f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, failures "
        f"{result['failures']} {result['failure_kinds'] or ''} (load avg {result['load']:.1f})"
    )
    print(line)
    print(
        "CPU ms per page: "
        + ", ".join(f"{service} {ms:.2f}" for service, ms in result["cpu_ms"].items())
    )
    print(
        "median ms per request: "
        + ", ".join(f"{service} {ms:.1f}" for service, ms in parts.items())
        + f"; webapp's own work {parts['webapp'] - parts['mlapp'] - parts['dbapp']:.1f}"
    )
    if args.write_readme:
        write_readme(args, result, parts)


def write_readme(args: argparse.Namespace, result: dict, parts: dict[str, float]) -> None:
    own = parts["webapp"] - parts["mlapp"] - parts["dbapp"]
    section = (
        "## User path\n\n"
        "`bench/user_path.py`: the browser's path as real processes (nx-27017, MLflow, dbapp,\n"
        "mlapp and webapp under gunicorn with their own settings, 2 workers each), champion\n"
        f"`{args.model}`. {args.concurrency} browser-like sessions post the predict form for "
        f"{args.duration:g} s\n(after a 2 s warm-up); a post counts when it answers 200 with "
        "the result page.\n"
        f"Machine: {os.cpu_count()} cores shared with other work (1-minute load average at the "
        f"end: {result['load']:.1f}).\n\n"
        "| concurrency | pages/s | p50 ms | p99 ms | failures |\n"
        "| ---: | ---: | ---: | ---: | ---: |\n"
        f"| {args.concurrency} | {result['rps']:.0f} | {result['p50_ms']:.1f} "
        f"| {result['p99_ms']:.1f} | {result['failures']} |\n\n"
        "Median time per request inside each service, from their request log lines:\n"
        f"webapp's whole answer {parts['webapp']:.1f} ms, of which mlapp's `POST /predict` "
        f"{parts['mlapp']:.1f} ms and dbapp's `POST /predictions` {parts['dbapp']:.1f} ms; "
        f"webapp's own work (form, page, HTTP calls) {own:.1f} ms.\n"
        "CPU per page (user + system, all worker processes): "
        + ", ".join(f"{service} {ms:.2f} ms" for service, ms in result["cpu_ms"].items())
        + ".\n\n"
        "Rerun: `.venv/bin/python bench/user_path.py --write-readme`.\n"
    )
    text = README.read_text()
    pattern = re.compile(r"^## User path\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    README.write_text(text)
    print(f"written to {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
