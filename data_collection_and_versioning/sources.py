"""The job's two inputs: raw sales CSVs in BUCKET_1 and pending corrections in Mongo.

Both are turned into the same thing: clean raw records (houseprice.schema.RAW_COLUMNS)
with a `source` label each, plus the rejected ones with a reason. Nothing here
writes; the job decides what to commit.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pymongo.collection import Collection

from houseprice.mongo import PENDING
from houseprice.schema import (
    FEATURES,
    FORMULA_START,
    PRICE,
    RAW_COLUMNS,
    REQUIRED_COLUMNS,
    check_value,
    validate_features,
    validate_frame,
)
from houseprice.storage import Bucket, ObjectInfo, ObjectNotFound

ARCHIVE_PREFIX = "archive/"
QUARANTINE_PREFIX = "quarantine/"
REASON_SUFFIX = ".reason.json"

# Typed parsing is several times faster than text; a column that does not parse
# as its type is re-read as text and left to schema.validate_frame to report.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "date": pa.timestamp("s"),
    PRICE.name: pa.float64(),
    **{f.name: (pa.string() if f.kind == "str" else pa.float64()) for f in FEATURES},
}
_COLUMN_IN_ERROR = re.compile(r"In CSV column #(\d+)")
_MAX_TEXT = 300  # of a malformed line kept in the rejected file


class UnreadableFile(ValueError):
    """A raw file that cannot be used at all; the message says why."""


@dataclass
class RawFile:
    """One raw CSV read and validated."""

    key: str
    sha256: str
    rows_read: int
    valid: pd.DataFrame  # RAW_COLUMNS, clean dtypes, in file order
    lines: np.ndarray  # line number of each valid row (the header is line 1)
    rejected: pd.DataFrame  # `line`, the columns as read, `reason`


@dataclass
class Correction:
    id: Any  # the document's _id, whatever type the writer gave it
    request_id: str
    record: dict[str, Any] | None  # clean raw record, or None if rejected
    reason: str = ""
    document: dict[str, Any] = field(default_factory=dict)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_keys(keys: list[str]) -> list[str]:
    """The raw CSVs among a BUCKET_1 listing (archived and quarantined ones excluded)."""
    return [
        key
        for key in keys
        if key.lower().endswith(".csv") and not key.startswith((ARCHIVE_PREFIX, QUARANTINE_PREFIX))
    ]


def settle(
    bucket: Bucket,
    listed: list[ObjectInfo],
    seconds: float,
    emit: Callable[[str], None],
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[ObjectInfo], list[ObjectInfo]]:
    """(files safe to read, files still being written) among a listing.

    Where a reader can see a file while it is written (a local directory), a file
    is ready once its size and mtime have not changed for `seconds`. Files changed
    more recently are waited for once, up to `seconds`; those still changing then
    (or whose mtime is in the future) are left for the next run. An empty file is
    judged like any other, so it counts as empty only if still empty after the wait.
    Object stores that show only finished uploads need no wait.
    """
    if seconds <= 0 or not bucket.shows_partial_writes:
        return listed, []
    now = clock()
    young = [info for info in listed if now - info.updated < seconds]
    if not young:
        return listed, []
    wait = min(seconds, max(info.updated + seconds - now for info in young))
    emit(f"waiting {wait:.1f} s for {len(young)} recently changed files to settle")
    sleep(max(wait, 0.0))
    ready = [info for info in listed if info not in young]
    in_flight = []
    for info in young:
        try:
            again = bucket.stat(info.key)
        except ObjectNotFound:
            continue  # removed meanwhile
        if again.generation == info.generation and clock() - again.updated >= seconds * 0.999:
            ready.append(info)
        else:
            in_flight.append(again)
    return sorted(ready, key=lambda info: info.key), in_flight


def parse_raw(key: str, data: bytes) -> RawFile:
    """Read and validate one raw CSV; UnreadableFile if the file as a whole is unusable."""
    digest = sha256_hex(data)
    header = check_header(data)
    table, malformed = _read_table(data, header)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)  # no block copies
    del table
    lines = _line_numbers(len(frame), [row[0] for row in malformed])
    valid, rejected = validate_frame(frame, keep_index=True)
    del frame
    rejected.insert(0, "line", lines[rejected.index.to_numpy()])
    if malformed:
        bad_rows = pd.DataFrame(
            {
                "line": [row[0] for row in malformed],
                "reason": [row[1] for row in malformed],
                "text": [row[2] for row in malformed],
            }
        )
        rejected = pd.concat([rejected, bad_rows], ignore_index=True).sort_values(
            "line", kind="stable"
        )
    valid_lines = lines[valid.index.to_numpy()]
    return RawFile(
        key=key,
        sha256=digest,
        rows_read=len(lines) + len(malformed),
        valid=valid.reset_index(drop=True),
        lines=valid_lines,
        rejected=rejected.reset_index(drop=True),
    )


@dataclass
class Segment:
    """Rows [number * size, (number + 1) * size) of a large raw file, read and validated."""

    number: int
    rows_read: int
    valid: pd.DataFrame
    lines: np.ndarray
    rejected: pd.DataFrame
    last: bool


def check_header(data: bytes) -> list[str]:
    """The header of a raw CSV (given its first bytes); UnreadableFile if it is unusable."""
    header = _header(data)
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise UnreadableFile(f"missing required columns: {', '.join(missing)}")
    repeated = sorted({name for name in header if header.count(name) > 1} & set(RAW_COLUMNS))
    if repeated:
        raise UnreadableFile(f"repeated columns: {', '.join(repeated)}")
    return header


def iter_segments(handle: BinaryIO, header: list[str], size: int) -> Iterator[Segment]:
    """Stream a large raw CSV in segments of `size` parsed rows (plus the malformed ones
    among them).

    Memory holds one segment at a time. Cells are read as text and converted by
    validate_frame, so a bad cell deep in the file rejects only its row. Segment
    boundaries depend only on the file's content and `size`: a re-run after a crash
    cuts the same segments, so committed ones are recognised and skipped.
    """
    columns = [name for name in RAW_COLUMNS if name in header]
    malformed: list[tuple[int, str, str]] = []
    handler = _collect(malformed)  # type: ignore[arg-type]
    try:
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in columns},
                include_columns=columns,
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"cannot be parsed as CSV: {str(exc).splitlines()[0]}") from None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    next_line = 2  # the header is line 1
    number = 0
    used = 0  # malformed rows already given to a segment

    def cut(batches: list[pa.RecordBatch], last: bool) -> Segment:
        nonlocal next_line, number, used
        table = pa.Table.from_batches(batches, schema=reader.schema)
        # Rows of this segment, in order: parsed ones and the malformed ones between them.
        bad = malformed[used:]
        skipped = {row[0] for row in bad}
        span = np.arange(next_line, next_line + table.num_rows + len(bad), dtype=np.int64)
        lines = span[~np.isin(span, np.fromiter(skipped, np.int64, len(skipped)))]
        lines = lines[: table.num_rows]
        inside = [row for row in bad if lines.size == 0 or row[0] <= int(lines[-1])]
        used += len(inside)
        next_line = int(lines[-1]) + 1 if lines.size else next_line + len(inside)
        frame = table.to_pandas()
        valid, rejected = validate_frame(frame, keep_index=True)
        rejected.insert(0, "line", lines[rejected.index.to_numpy()])
        if inside:
            rejected = pd.concat(
                [rejected, pd.DataFrame(inside, columns=["line", "reason", "text"])],
                ignore_index=True,
            ).sort_values("line", kind="stable")
        segment = Segment(
            number=number,
            rows_read=table.num_rows + len(inside),
            valid=valid.reset_index(drop=True),
            lines=lines[valid.index.to_numpy()],
            rejected=rejected.reset_index(drop=True),
            last=last,
        )
        number += 1
        return segment

    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            message = str(exc).splitlines()[0]
            if "UTF8" in message or "UTF-8" in message:
                raise UnreadableFile("not UTF-8 text") from None
            raise UnreadableFile(f"cannot be parsed as CSV: {message}") from None
        while batch.num_rows:
            take = min(batch.num_rows, size - pending_rows)
            pending.append(batch.slice(0, take))
            pending_rows += take
            batch = batch.slice(take)
            if pending_rows == size:
                yield cut(pending, last=False)
                pending, pending_rows = [], 0
    yield cut(pending, last=True)


def _header(data: bytes) -> list[str]:
    if not data or data.isspace():  # isspace stops at the first other byte: no copy
        raise UnreadableFile("empty file")
    first = data[: data.find(b"\n")] if b"\n" in data else data
    try:
        text = first.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise UnreadableFile("not UTF-8 text (the header line cannot be decoded)") from None
    try:
        return next(csv.reader([text]))
    except (csv.Error, StopIteration):
        raise UnreadableFile("the header line is not CSV") from None


def _read_table(data: bytes, header: list[str]) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Typed Arrow table of the platform's columns, and the malformed rows skipped."""
    columns = [name for name in RAW_COLUMNS if name in header]
    types = {name: _ARROW_TYPES[name] for name in columns}
    threads = True
    while True:
        malformed: list[tuple[int | None, str, str]] = []
        try:
            table = pacsv.read_csv(
                pa.py_buffer(data),
                read_options=pacsv.ReadOptions(use_threads=threads),
                parse_options=pacsv.ParseOptions(invalid_row_handler=_collect(malformed)),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    include_columns=columns,
                    null_values=[""],  # only an empty cell is missing; "n/a" is not a number
                    strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            message = str(exc)
            found = _COLUMN_IN_ERROR.search(message)
            name = header[int(found.group(1))] if found else None
            if name in types and types[name] != pa.string():
                types[name] = pa.string()  # re-read as text; validation reports the bad cells
                continue
            if "UTF8" in message or "UTF-8" in message:
                raise UnreadableFile(f"not UTF-8 text (column {name})") from None
            raise UnreadableFile(f"cannot be parsed as CSV: {message.splitlines()[0]}") from None
        if any(number is None for number, _, _ in malformed) and threads:
            threads = False  # only a single-threaded read knows the line numbers
            continue
        return table, [(int(n or 0), reason, text) for n, reason, text in malformed]


def _collect(malformed: list[tuple[int | None, str, str]]):
    """An Arrow invalid-row handler that keeps each malformed row (number, reason, text)."""

    def skip(row: pacsv.InvalidRow) -> str:
        reason = f"malformed row: {row.actual_columns} fields, expected {row.expected_columns}"
        malformed.append((row.number, reason, row.text[:_MAX_TEXT]))
        return "skip"

    return skip


def _line_numbers(parsed: int, skipped: list[int]) -> np.ndarray:
    """Line of each parsed row: rows count from 2 (after the header), minus skipped ones."""
    every = np.arange(2, parsed + len(skipped) + 2, dtype=np.int64)
    if skipped:
        every = every[~np.isin(every, np.asarray(skipped, dtype=np.int64))]
    return every[:parsed]


# -- corrections ----------------------------------------------------------------------------


def snapshot_corrections(collection: Collection) -> list[dict[str, Any]]:
    """Every pending correction now; later inserts wait for the next run."""
    projection = {
        "request_id": 1,
        "prediction_id": 1,
        "features": 1,
        "corrected_price": 1,
        "created_at": 1,
    }
    docs = list(collection.find(PENDING, projection))
    # Oldest first, so that of two identical corrections the first one is kept.
    docs.sort(key=lambda d: (_sort_time(d.get("created_at")), str(d.get("request_id"))))
    return docs


def _sort_time(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else ""


def to_correction(doc: Mapping[str, Any]) -> Correction:
    """A correction document -> a raw record (price = corrected price, date = created_at)."""
    errors: dict[str, str] = {}
    request_id = doc.get("request_id")
    if not isinstance(request_id, str) or not request_id or not request_id.isprintable():
        errors["request_id"] = "must be non-empty text"
        request_id = str(doc.get("_id"))
    elif len(request_id) > 128:
        errors["request_id"] = "must be at most 128 characters"
    features = doc.get("features")
    clean: dict[str, Any] = {}
    if isinstance(features, Mapping):
        clean, feature_errors = validate_features(features)
        errors.update(feature_errors)
    else:
        errors["features"] = "must be an object of the 16 house features"
    price = doc.get("corrected_price")
    if price is None:
        errors["price"] = "is required"
    else:
        value, problem = check_value(PRICE, price)
        if problem:
            errors["price"] = problem
        clean["price"] = value
    created = doc.get("created_at")
    if isinstance(created, datetime | date):
        clean["date"] = created.strftime("%Y-%m-%d")
    else:
        errors["created_at"] = "must be a date"
    if errors:
        reason = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        return Correction(doc.get("_id"), request_id, None, reason, dict(doc))
    record = {name: clean[name] for name in RAW_COLUMNS}
    return Correction(doc.get("_id"), request_id, record, "", dict(doc))


def read_corrections(docs: list[Mapping[str, Any]]) -> tuple[list[Correction], pd.DataFrame]:
    """(every correction, the valid ones as raw records in the same order and dtypes as CSV rows).

    Each record passes validate_features and then validate_frame, the same contract
    as a CSV row; a record the frame check refuses is rejected with its reason.
    """
    corrections = [to_correction(doc) for doc in docs]
    accepted = [c for c in corrections if c.record is not None]
    frame = pd.DataFrame.from_records([c.record for c in accepted], columns=list(RAW_COLUMNS))
    valid, rejected = validate_frame(frame, keep_index=True)
    for position, reason in zip(rejected.index, rejected["reason"], strict=True):
        accepted[position].record = None
        accepted[position].reason = reason
    return corrections, valid.reset_index(drop=True)


def rejected_corrections_frame(corrections: list[Correction]) -> pd.DataFrame:
    rows = []
    for c in corrections:
        if c.record is not None:
            continue
        doc = c.document
        rows.append(
            {
                "request_id": c.request_id,
                "prediction_id": _text(doc.get("prediction_id")),
                "corrected_price": _text(doc.get("corrected_price")),
                "created_at": _text(doc.get("created_at")),
                "features": _text(doc.get("features")),
                "reason": c.reason,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "request_id",
            "prediction_id",
            "corrected_price",
            "created_at",
            "features",
            "reason",
        ],
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, sort_keys=True)[:2000]
    except (TypeError, ValueError):
        return repr(value)[:2000]


_PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")


def _report_cell(value: Any) -> str:
    if value is None or value is pd.NA or value != value:
        return ""
    text = str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    """Rejected rows as CSV bytes. Typed columns go as they are; mixed ones as text, with
    cells a spreadsheet would run as a formula neutralised by a leading apostrophe."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
            column = column.map(_report_cell)
        columns[str(name)] = column
    table = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes()
