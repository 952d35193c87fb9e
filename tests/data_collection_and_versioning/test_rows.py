"""Content hashing, the hash-based split and exact-duplicate detection."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from data_collection_and_versioning import rows
from houseprice.schema import validate_frame
from tests.data_collection_and_versioning.helpers import sample


def clean_sample() -> pd.DataFrame:
    valid, _ = validate_frame(sample())
    return valid


def test_hash_depends_on_content_not_on_dtype_or_position() -> None:
    frame = clean_sample().iloc[:200]
    hashes = rows.content_hash(frame)
    assert len(set(hashes)) == 200
    as_objects = frame.astype(object)
    round_trip = pd.read_csv(io.StringIO(frame.to_csv(index=False)), keep_default_na=False)
    assert (rows.content_hash(as_objects) == hashes).all()
    assert (rows.content_hash(round_trip) == hashes).all()
    reversed_hashes = rows.content_hash(frame.iloc[::-1].assign(source="x"))
    assert (reversed_hashes[::-1] == hashes).all()
    cheaper = frame.copy()
    cheaper.loc[cheaper.index[0], "price"] -= 0.01
    assert rows.content_hash(cheaper)[0] != hashes[0]
    assert (rows.content_hash(cheaper)[1:] == hashes[1:]).all()


def test_validation_share_follows_the_setting_and_is_repeatable() -> None:
    hashes = rows.content_hash(clean_sample())
    for share in (0.1, 0.2, 0.5):
        picked = rows.in_validation(hashes, share)
        assert abs(picked.mean() - share) < 0.03
        assert (rows.in_validation(hashes.copy(), share) == picked).all()
    # A larger share only adds rows: a row never moves from valid back to train.
    assert not (rows.in_validation(hashes, 0.1) & ~rows.in_validation(hashes, 0.2)).any()


def test_duplicates_are_found_against_old_rows_and_earlier_new_rows() -> None:
    frame = clean_sample().iloc[:10].reset_index(drop=True)
    old = frame.iloc[:4]
    new = pd.concat([frame.iloc[3:8], frame.iloc[[5, 9, 9]]], ignore_index=True)
    every = pd.concat([old, new], ignore_index=True)
    mask = rows.duplicate_mask(
        rows.content_hash(old), rows.content_hash(new), lambda pos: every.iloc[pos]
    )
    # new: 3(old) 4 5 6 7 5(again) 9 9(again)
    assert mask.tolist() == [True, False, False, False, False, True, False, True]


def test_a_hash_collision_never_drops_a_distinct_record() -> None:
    frame = clean_sample().iloc[:6].reset_index(drop=True)
    same = np.full(3, 42, dtype=np.uint64)  # pretend every row hashes alike
    mask = rows.duplicate_mask(same, same, lambda pos: frame.iloc[pos])
    assert not mask.any()


def test_nothing_to_compare() -> None:
    empty = np.empty(0, dtype=np.uint64)
    assert rows.duplicate_mask(empty, empty, lambda pos: pd.DataFrame()).tolist() == []
    assert rows.content_hash(clean_sample().iloc[:0]).tolist() == []
