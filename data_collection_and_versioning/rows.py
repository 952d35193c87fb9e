"""Per-row content hashing: exact-duplicate detection and the train/valid split.

Both depend only on a record's content (features, price, date), never on its
position or on random state, so re-running the job splits identically and a
record gets the same split whichever file or correction it came from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from houseprice.schema import FEATURES, PRICE, RAW_COLUMNS

# One dtype per column whatever the reader produced: the hash of a value depends
# on its dtype, and CSV rows, corrections and re-read instream rows must agree.
CANONICAL_DTYPES: dict[str, str] = {
    f.name: ("int64" if f.kind == "int" else "float64" if f.kind == "float" else "str")
    for f in (PRICE, *FEATURES)
}
CANONICAL_DTYPES["date"] = "str"


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The record columns only, in RAW_COLUMNS order and canonical dtypes."""
    out = frame[list(RAW_COLUMNS)]
    if any(str(out[c].dtype) != t for c, t in CANONICAL_DTYPES.items()):
        out = out.astype(CANONICAL_DTYPES)
    return out


def content_hash(frame: pd.DataFrame) -> np.ndarray:
    """A stable 64-bit hash of each record's content (pandas' keyed hashing, fixed key)."""
    if frame.empty:
        return np.empty(0, dtype=np.uint64)
    return pd.util.hash_pandas_object(canonical(frame), index=False).to_numpy(dtype=np.uint64)


def in_validation(hashes: np.ndarray, share: float) -> np.ndarray:
    """True for the rows that belong in the validation split (about `share` of them)."""
    unit = (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53  # uniform in [0, 1)
    return unit < share


def duplicate_mask(
    old_hashes: np.ndarray,
    new_hashes: np.ndarray,
    records: Callable[[np.ndarray], pd.DataFrame],
) -> np.ndarray:
    """True for each new row equal to an old row or to an earlier new row.

    Rows are numbered old first, then new; `records(positions)` returns those rows.
    Hashes find the candidates, then the records themselves are compared, so a
    hash collision can never drop a distinct record. Old rows are never marked.
    """
    every = np.concatenate([old_hashes, new_hashes])
    mask = np.zeros(len(new_hashes), dtype=bool)
    if len(every) == 0:
        return mask
    ordered = np.sort(every)
    repeated_hashes = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated_hashes) == 0:
        return mask
    candidates = np.flatnonzero(np.isin(every, repeated_hashes))
    subset = canonical(records(candidates)).reset_index(drop=True)
    repeated = subset.duplicated(keep="first").to_numpy()
    new_positions = candidates - len(old_hashes)
    is_new = new_positions >= 0
    mask[new_positions[is_new]] = repeated[is_new]
    return mask
