"""Time from `make up` on a fresh clone to the first successful prediction.

Clones this repository (its committed HEAD) into a temporary directory, runs `make up`
there on free ports, and polls mlapp's POST /predict until it answers 200, printing how
long each stage took (install, services up, first champion). Then stops the platform
with SIGINT, as Ctrl-C would.

    .venv/bin/python bench/first_prediction.py            # pip's cache allowed
    .venv/bin/python bench/first_prediction.py --no-cache # every package downloaded again
    .venv/bin/python bench/first_prediction.py --installed

With --installed it runs `python -m local_runner up` in this checkout with its own
virtualenv (already installed) and a fresh, empty data directory: the time from start
to the first price is then the platform's own (services, data job, first champion).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from houseprice.schema import EXAMPLE_RECORD  # noqa: E402

RECORD = EXAMPLE_RECORD
PORT_VARS = ("WEBAPP_PORT", "MLAPP_PORT", "DBAPP_PORT", "MLFLOW_PORT", "MONGO_PORT",
             "PROMETHEUS_PORT")  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# What each Procfile line runs, told apart by its command line (first match wins).
PROCESS_NAMES = ("mlapp", "webapp", "dbapp", "mlflow", "nx-27017", "local_runner",
                 "pushgateway", "prometheus")  # fmt: skip


def cpu_by_process(root: int) -> dict[str, float]:
    """CPU time of each process honcho started (its children, ended ones included).

    honcho runs each Procfile line from a fork of itself; each is named here by the
    program its line runs (the scheduler is `local_runner`: the data job, training and
    promotion are its children). Ended children count through cutime/cstime once reaped.
    """
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def children(pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found

    def tree_seconds(pid: int) -> float:
        total, todo = 0.0, [pid]
        while todo:
            current = todo.pop()
            try:
                fields = stat(current)
                total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
                todo += children(current)
            except OSError:
                continue
        return total

    def cmdline(pid: int) -> str:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return words.decode(errors="replace")

    # `make up` runs python, which becomes honcho (exec); --installed starts it directly.
    honcho, todo = None, [root]
    while todo and honcho is None:
        pid = todo.pop(0)
        with contextlib.suppress(OSError):
            if "honcho" in cmdline(pid):
                honcho = pid
            else:
                todo += children(pid)
    out: dict[str, float] = {}
    for child in children(honcho) if honcho else []:
        # honcho forks a copy of itself per Procfile line, which runs the line's program.
        program = child
        with contextlib.suppress(OSError, IndexError):
            while "honcho" in cmdline(program):
                program = children(program)[0]
        try:
            line = cmdline(program)
        except OSError:
            continue
        name = next((n for n in PROCESS_NAMES if n in line), line[:30])
        out[name] = out.get(name, 0.0) + tree_seconds(child)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="install without pip's cache")
    parser.add_argument("--timeout", type=float, default=1200, help="give up after (s)")
    parser.add_argument(
        "--installed", action="store_true", help="this checkout's .venv, a fresh data dir"
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="with --installed: run the platform of this checkout (e.g. an older commit) "
        "with this checkout's virtualenv, for a side-by-side comparison",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="houseprice-fresh-"))
    clone = workdir / "houseprice"
    if args.installed:
        clone = args.checkout.resolve()
        command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "local_runner", "up"]
    else:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        command = ["make", "up"]
    ports = {var: free_port() for var in PORT_VARS}
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env.update({var: str(port) for var, port in ports.items()})
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    if args.no_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    if args.installed:
        env["HOUSEPRICE_DATA_DIR"] = str(workdir / "data")
    log_path = workdir / "make-up.log"
    print(f"fresh clone in {clone}; log in {log_path}", flush=True)

    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    marks: dict[str, float] = {}
    url = f"http://127.0.0.1:{ports['MLAPP_PORT']}/predict"
    try:
        while time.monotonic() - started < args.timeout:
            if proc.poll() is not None:
                print(log_path.read_text()[-3000:])
                print(f"make up exited with {proc.returncode}", file=sys.stderr)
                return 1
            text = log_path.read_text(errors="replace")
            if "installed" not in marks and "houseprice: starting" in text:
                marks["installed"] = time.monotonic() - started
            if "data job" not in marks and re.search(r"pipeline: data job done", text):
                marks["data job"] = time.monotonic() - started
            if "first champion" not in marks and "pipeline: first model done" in text:
                marks["first champion"] = time.monotonic() - started  # trained and promoted
            try:
                reply = requests.post(url, json=RECORD, timeout=2)
                if reply.status_code == 200:
                    marks["first prediction"] = time.monotonic() - started
                    cpu = cpu_by_process(proc.pid)
                    price = reply.json()["price"]
                    model = reply.json()["model"]
                    break
            except requests.RequestException:
                pass
            time.sleep(0.25)
        else:
            print(f"no prediction within {args.timeout:.0f}s", file=sys.stderr)
            return 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(60)
    for stage, seconds in marks.items():
        print(f"{stage:>17}: {seconds:6.1f} s")
    print(f"first price ${price:,.0f} from {model['model_folder']} version {model['version']}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("CPU seconds until the first price (user + system, children included):")
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  {name:>12}: {seconds:5.1f}")
    print(f"  {'all':>12}: {sum(cpu.values()):5.1f}")
    for line in log_path.read_text(errors="replace").splitlines():
        if "pipeline:" in line:
            print(line[-110:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
