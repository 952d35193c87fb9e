"""`python -m local_runner up | pipeline | scheduler`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import requests

from houseprice.settings import Settings, SettingsError
from local_runner.config import (
    PUSHGATEWAY_BIN,
    REPO,
    LocalConfig,
    LocalConfigError,
    busy_ports,
)
from local_runner.mlflow_store import seed_backend_store
from local_runner.pipeline import prometheus_available, run_pipeline, seed_once
from local_runner.prometheus import write_config

CORE = ["mongo", "mlflow", "dbapp", "mlapp", "webapp"]


def up(config: LocalConfig) -> int:
    env = config.child_env()
    Settings.from_env(env)  # fail now, with a clear message, not in five processes
    processes = [*CORE, "scheduler"]
    wanted_ports = {name: port for name, port in config.ports.items() if name in CORE}
    if prometheus_available():
        processes.append("prometheus")
        wanted_ports["prometheus"] = config.ports["prometheus"]
    if shutil.which(PUSHGATEWAY_BIN):
        processes.append("pushgateway")
        wanted_ports["pushgateway"] = config.ports["pushgateway"]
    busy = busy_ports(wanted_ports)
    if busy:
        for name, port in busy:
            var = {"mongo": "MONGO_PORT"}.get(name, f"{name.upper()}_PORT")
            print(
                f"error: port {port} ({name}) is already in use: stop what listens there "
                f"or choose another with {var}=<port>",
                file=sys.stderr,
            )
        return 2
    config.make_dirs()
    seed_backend_store(env["MLFLOW_BACKEND_STORE_URI"])
    if "prometheus" in processes:
        write_config(config, pushgateway="pushgateway" in processes)
    print("houseprice: starting " + ", ".join(processes))
    print(f"  data dir    {config.data_dir}")
    print(f"  web UI      {config.url('webapp')}")
    print(f"  mlapp API   {config.url('mlapp')}/openapi.json")
    print(f"  dbapp API   {config.url('dbapp')}/openapi.json")
    print(f"  MLflow UI   {config.url('mlflow')}")
    if "prometheus" in processes:
        print(f"  Prometheus  {config.url('prometheus')}")
    else:
        print("  Prometheus  not installed (optional): sudo apt-get install prometheus")
    if "pushgateway" in processes:
        print(f"  Pushgateway {config.url('pushgateway')} (job metrics)")
    else:
        print("  Pushgateway not installed (optional): sudo apt-get install prometheus-pushgateway")
    print("  first start: seeds the sample data, versions it, trains and promotes a model")
    print("  run the pipeline now: make pipeline    stop everything: Ctrl-C", flush=True)
    honcho = shutil.which("honcho", path=env["PATH"])
    if honcho is None:
        print("error: honcho not found: run `make install`", file=sys.stderr)
        return 2
    os.chdir(REPO)
    os.execve(honcho, [honcho, "-f", str(REPO / "Procfile"), "start", *processes], env)
    return 0  # not reached


def pipeline(config: LocalConfig) -> int:
    env = config.child_env()
    Settings.from_env(env)
    try:
        requests.get(f"{env['MLFLOW_TRACKING_URI']}/health", timeout=3)
    except requests.RequestException:
        print(
            f"error: MLflow is not answering at {env['MLFLOW_TRACKING_URI']}: "
            "is the platform running? start it with `make up`",
            file=sys.stderr,
        )
        return 2
    seed_once(config, env)
    return 0 if run_pipeline(config, env) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_runner", description="Run the platform on this machine."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every process (Ctrl-C stops them all)")
    sub.add_parser("pipeline", help="run the data job, training and promotion now")
    sub.add_parser(
        "scheduler", help="(used by `up`) seed once, then run the pipeline on an interval"
    )
    args = parser.parse_args(argv)
    try:
        config = LocalConfig.from_env()
        if args.command == "up":
            return up(config)
        if args.command == "pipeline":
            return pipeline(config)
        from local_runner.scheduler import run_forever

        run_forever(config)
        return 0
    except (LocalConfigError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
