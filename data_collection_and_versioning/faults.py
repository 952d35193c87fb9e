"""Named crash points between the job's durable writes.

`HOUSEPRICE_FAULT_AT=<step>` makes the process die at that step with
`os._exit(137)`: no cleanup, no `finally`, no flushing of anything but our own
progress lines, as if the pod had been killed. The recovery tests run the job
once per step with the fault, then again without it, and check that every record
ends up counted exactly once.
"""

from __future__ import annotations

import os
import sys
import time

ENV_VAR = "HOUSEPRICE_FAULT_AT"
# Tests only: "<step>:<seconds>" sleeps there, e.g. to keep the lease held while the runs
# started beside this one reach it (overlap made certain rather than left to timing).
PAUSE_VAR = "HOUSEPRICE_PAUSE_AT"
EXIT_CODE = 137  # what a SIGKILLed container reports

# In the order a run reaches them. Each sits right after one durable change.
STEPS: tuple[str, ...] = (
    "after_reconcile",  # leftovers of an earlier crash cleaned or finished
    "after_quarantine_reason",  # BUCKET_1 quarantine sidecar written, file not yet moved
    "after_quarantine_copy",  # unreadable file copied to quarantine/, original still there
    "after_read",  # every source read and validated, nothing written
    "after_rejected_written",  # BUCKET_2 quarantine/<run id>/*.rejected.csv written
    "after_chunk_data",  # instream/<id>.csv written, its .json (the commit) not yet
    "after_chunk_commit",  # instream/<id>.json written: the chunk is committed
    "after_version_train",  # versioned/vN/train.csv written
    "after_version_data",  # train.csv and valid.csv written, manifest not yet
    "after_manifest",  # versioned/vN/manifest.json written: the version is committed
    "after_mark_corrections",  # included corrections marked consumed
    "after_mark_rejected",  # rejected corrections marked "rejected:<reason>"
    "after_archive_copy",  # first raw file copied to archive/, original still there
    "after_archive_first_raw",  # first raw file moved to archive/
    "after_archive",  # every committed raw file moved to archive/
    "after_instream_cleanup_first",  # first folded instream chunk deleted
    "after_instream_cleanup",  # every folded instream chunk deleted
)


def point(step: str) -> None:
    """Die here if the environment asks for a crash at `step`."""
    if step not in STEPS:
        raise ValueError(f"unknown fault step {step!r}")
    if os.environ.get(ENV_VAR) == step:
        print(f"fault injected: exiting at {step}", flush=True)
        sys.stderr.flush()
        os._exit(EXIT_CODE)


def pause(step: str) -> None:
    """Sleep here if the environment asks for a pause at `step` (HOUSEPRICE_PAUSE_AT)."""
    name, _, seconds = os.environ.get(PAUSE_VAR, "").partition(":")
    if name == step:
        time.sleep(float(seconds or 1))
