"""Start-of-run reconcile: finish what a crashed run committed, clean what it did not.

The ledger of truth is what is committed in BUCKET_2 (manifests and chunk records):
- a chunk already folded into a version is deleted (its rows live in the version);
- a version folder without manifest, a chunk .csv without its .json, and rejected-row
  files of a run that committed nothing are deleted (their sources were never marked
  or archived, so this run reads them again);
- the newest version and every live chunk get their follow-up steps repeated
  (corrections marked, raw files archived), which is a no-op when they were done.
Older commits were followed up by the runs after them, which all began here.
"""

from __future__ import annotations

from collections import Counter

from pymongo.collection import Collection

from data_collection_and_versioning.followup import finish_commit
from data_collection_and_versioning.versioning import Ledger
from houseprice.datasets import INSTREAM_PREFIX
from houseprice.storage import Bucket


def reconcile(
    ledger: Ledger, raw_bucket: Bucket, data_bucket: Bucket, collection: Collection
) -> dict[str, int]:
    """Bring BUCKET_1, BUCKET_2 and Mongo in line with the ledger; returns what it changed."""
    done: Counter[str] = Counter()
    for key in ledger.folded:  # per chunk the .json comes first: the commit marker goes first
        data_bucket.delete(key)
    done["folded_chunks_deleted"] = len({k.rsplit(".", 1)[0] for k in ledger.folded})
    for key in ledger.uncommitted:
        data_bucket.delete(key)
    done["uncommitted_deleted"] = len(ledger.uncommitted)
    for key in ledger.orphan_rejected:
        data_bucket.delete(key)
    done["orphan_rejected_deleted"] = len(ledger.orphan_rejected)
    ledger.folded, ledger.uncommitted, ledger.orphan_rejected = [], [], []

    commits = []
    if ledger.latest is not None:
        commits.append((ledger.latest, ledger.versions[ledger.latest]))
    commits += [(f"{INSTREAM_PREFIX}{cid}", rec) for cid, rec in ledger.chunks.items()]
    if commits:
        listing = set(raw_bucket.list())
        for name, record in commits:
            steps = finish_commit(
                name, record, raw_bucket, listing, data_bucket, collection, crash_points=False
            )
            done.update({k: v for k, v in steps.items() if k != "chunks_deleted"})
    return {key: value for key, value in done.items() if value}
