"""Training data: read the seed's format (JSON list, JSONL or parquet) and write verl's parquet.

Input rows (the seed's format)::

    {"prompt": "请解答：15 + 27 = ?", "ground_truth": "42", "data_source": "math_reasoning"}

with optional ``extra_info`` (an object) and ``ability`` (a string). ``prompt`` may also already be a list of
chat messages (``[{"role": "user", "content": "..."}]``), and ``reward_model: {"ground_truth": ...}`` is
accepted in place of ``ground_truth`` so verl-format files pass through unchanged.

Output rows (what verl 0.9.1's RLHFDataset and reward loop read)::

    {"data_source": ..., "prompt": [{"role": "user", "content": ...}], "ability": ...,
     "reward_model": {"style": "rule", "ground_truth": ...}, "extra_info": {"index": i, "split": ..., ...}}

Every row is checked before anything is written; the first bad row raises :class:`DataError` naming the file,
the 1-based row number (for JSONL: the line number) and the field.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from trainer_entry.errors import DataErrorBase

SUFFIXES = (".json", ".jsonl", ".parquet")
ROW_FIELDS = ("prompt", "ground_truth", "data_source", "extra_info", "ability", "reward_model")
CHAT_ROLES = ("system", "user", "assistant", "tool")

_PROMPT_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
MAX_DEPTH = 32  # nesting of JSON values inside a row (Python's JSON parser would recurse out of stack at ~1000)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class DataError(DataErrorBase):
    """A data file or one of its rows is unusable. Carries where, so the message can say it."""

    def __init__(self, file: str | Path, message: str, row: int | None = None, field: str | None = None):
        self.file = str(file)
        self.row = row
        self.field = field
        self.reason = message
        where = self.file
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


@dataclass
class ConvertResult:
    rows: int
    output: Path
    data_sources: Counter = field(default_factory=Counter)


def _kind(value: Any) -> str:
    """JSON type name of a value, used to keep extra_info columns consistent across rows."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def read_records(path: str | Path) -> list[tuple[int, Any]]:
    """Raw records of a data file as (row number, value) pairs; row numbers are 1-based (JSONL: line numbers)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found (expected a .json, .jsonl or .parquet file)")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_bytes())
        except json.JSONDecodeError as e:
            raise DataError(path, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        except (ValueError, RecursionError) as e:  # not UTF-8, an integer of > 4300 digits, nested too deeply
            raise DataError(path, f"not valid JSON: {_json_problem(e)}") from None
        if not isinstance(data, list):
            raise DataError(
                path,
                f"a .json data file must hold a list of rows (the seed's format), got a JSON {_kind(data)}",
            )
        return list(enumerate(data, start=1))
    if suffix == ".jsonl":
        records = []
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    records.append((lineno, json.loads(line)))
                except (ValueError, RecursionError) as e:
                    raise DataError(path, f"line is not valid JSON: {_json_problem(e)}", row=lineno) from None
        return records
    if suffix == ".parquet":
        try:
            table = pq.read_table(path)
            return list(enumerate(table.to_pylist(), start=1))
        except (pa.ArrowException, OSError, ValueError) as e:
            raise DataError(path, f"not a readable parquet file: {e}") from None
    raise DataError(path, f"unsupported file type '{suffix or path.name}'; allowed: {', '.join(SUFFIXES)}")


def _json_problem(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"{e.msg} at line {e.lineno} column {e.colno}"
    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text ({e.reason} at byte {e.start})"
    if "digits" in str(e):  # ValueError: Exceeds the limit (4300 digits) for integer string conversion
        return "an integer has more digits than Python reads (4300); store it as a string"
    return str(e)


def _check_value(value: Any, file: Path, row: int, where: str, depth: int = 0) -> None:
    """What parquet (and verl) can store: UTF-8 strings, 64-bit integers, string keys, bounded nesting."""
    if depth > MAX_DEPTH:
        raise DataError(file, f"nested more than {MAX_DEPTH} levels deep", row, where)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise DataError(file, f"not valid Unicode text (a lone surrogate {value[e.start]!r} at character "
                                  f"{e.start})", row, where) from None
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise DataError(file, "integer does not fit in 64 bits (store it as a string)", row, where)
    elif isinstance(value, dict):
        if depth > 0 and not value:
            raise DataError(file, "an empty object cannot be stored in parquet (use null or drop the key)",
                            row, where)
        for k, v in value.items():
            if not isinstance(k, str):
                raise DataError(file, f"keys must be strings, got {_kind(k)}", row, where)
            _check_value(k, file, row, where, depth + 1)
            _check_value(v, file, row, f"{where}.{k}", depth + 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_value(v, file, row, f"{where}[{i}]", depth + 1)


def _prompt(value: Any, file: Path, row: int) -> list[dict[str, str]]:
    if isinstance(value, str):
        if not value.strip():
            raise DataError(file, "must not be empty", row, "prompt")
        return [{"role": "user", "content": value}]
    if isinstance(value, list | tuple):
        if not value:
            raise DataError(file, "chat message list must not be empty", row, "prompt")
        messages = []
        for i, msg in enumerate(value):
            where = f"prompt[{i}]"
            if not isinstance(msg, dict):
                raise DataError(
                    file, f"must be an object with 'role' and 'content', got {_kind(msg)}", row, where
                )
            role, content = msg.get("role"), msg.get("content")
            if role not in CHAT_ROLES:
                raise DataError(
                    file, f"role must be one of {', '.join(CHAT_ROLES)}, got {role!r}", row, where
                )
            if not isinstance(content, str):
                raise DataError(
                    file, f"content must be a string, got {_kind(content)}", row, where + ".content"
                )
            messages.append({"role": role, "content": content})
        if not any(m["role"] == "user" and m["content"].strip() for m in messages):
            raise DataError(file, "chat messages contain no non-empty 'user' message", row, "prompt")
        return messages
    raise DataError(file, f"must be a string or a list of chat messages, got {_kind(value)}", row, "prompt")


def _ground_truth(record: dict, file: Path, row: int) -> str:
    if "ground_truth" in record:
        value, name = record["ground_truth"], "ground_truth"
        if "reward_model" in record:
            raise DataError(
                file, "give either 'ground_truth' or 'reward_model', not both", row, "reward_model"
            )
    elif isinstance(record.get("reward_model"), dict) and "ground_truth" in record["reward_model"]:
        value, name = record["reward_model"]["ground_truth"], "reward_model.ground_truth"
    else:
        raise DataError(file, "missing (every row needs the expected answer)", row, "ground_truth")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataError(file, f"must be a string (or a number), got {_kind(value)}", row, name)
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise DataError(file, "must not be empty", row, name)
    return text


def normalize_row(
    record: Any, file: str | Path, row: int, index: int, split: str, types: dict[str, str]
) -> dict:
    """Check one seed-format record and return it as a verl row. ``types`` tracks extra_info value types."""
    file = Path(file)
    if not isinstance(record, dict):
        raise DataError(
            file, f"must be an object with prompt/ground_truth/data_source, got {_kind(record)}", row
        )
    unknown = [k for k in record if k not in ROW_FIELDS]
    if unknown:
        raise DataError(file, f"unknown field; allowed fields: {', '.join(ROW_FIELDS)}", row, str(unknown[0]))
    for key in ROW_FIELDS:
        if key in record:
            _check_value(record[key], file, row, key)
    if "prompt" not in record:
        raise DataError(file, "missing (every row needs a prompt)", row, "prompt")
    prompt = _prompt(record["prompt"], file, row)
    ground_truth = _ground_truth(record, file, row)
    source = record.get("data_source")
    if source is None:
        raise DataError(
            file, "missing (it selects the reward logic, e.g. math_reasoning)", row, "data_source"
        )
    if not isinstance(source, str) or not source.strip():
        raise DataError(file, f"must be a non-empty string, got {source!r}", row, "data_source")
    ability = record.get("ability", source)
    if not isinstance(ability, str):
        raise DataError(file, f"must be a string, got {_kind(ability)}", row, "ability")
    extra = record.get("extra_info")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise DataError(file, f"must be an object, got {_kind(extra)}", row, "extra_info")
    extra = dict(extra)
    if "index" in extra and (isinstance(extra["index"], bool) or not isinstance(extra["index"], int)):
        raise DataError(file, f"must be an integer, got {_kind(extra['index'])}", row, "extra_info.index")
    extra.setdefault("index", index)
    extra.setdefault("split", split)
    for key, value in extra.items():
        if not isinstance(key, str):
            raise DataError(file, "keys must be strings", row, "extra_info")
        kind = _kind(value)
        if kind == "null":
            continue
        seen = types.setdefault(key, kind)
        if seen != kind and {seen, kind} != {"integer", "number"}:
            raise DataError(
                file,
                f"is {kind} here but {seen} in an earlier row (one type per key)",
                row,
                f"extra_info.{key}",
            )
        if {seen, kind} == {"integer", "number"}:
            types[key] = "number"
    return {
        "data_source": source,
        "prompt": prompt,
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": extra,
    }


def load_rows(path: str | Path, split: str = "train") -> list[dict]:
    """Read and check every row of a data file; return verl rows. Raises DataError on the first bad row."""
    path = Path(path)
    records = read_records(path)
    if not records:
        raise DataError(path, "contains no rows")
    types: dict[str, str] = {}
    rows = [normalize_row(rec, path, row, i, split, types) for i, (row, rec) in enumerate(records)]
    _check_storable(rows, path, [row for row, _ in records])
    # Integer and float values may share an extra_info key; make the column one float type for parquet.
    floats = [k for k, t in types.items() if t == "number"]
    if floats:
        for r in rows:
            for k in floats:
                if isinstance(r["extra_info"].get(k), int):
                    r["extra_info"][k] = float(r["extra_info"][k])
    return rows


def _storable(extras: list[dict]) -> Exception | None:
    """None when these extra_info values make one parquet column (the other columns have fixed types)."""
    try:
        pq.write_table(pa.table({"extra_info": pa.array(extras)}), pa.BufferOutputStream())
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as e:
        return e
    return None


def _check_storable(rows: list[dict], file: Path, row_numbers: list[int]) -> None:
    """Refuse rows whose extra_info parquet cannot hold (e.g. a nested list of mixed types), naming the row and
    key: the first failing prefix of rows is found by bisection (a prefix that fails stays failing)."""
    extras = [r["extra_info"] for r in rows]
    error = _storable(extras)
    if error is None:
        return
    lo, hi = 0, len(extras) - 1  # extras[: hi + 1] fails
    while lo < hi:
        mid = (lo + hi) // 2
        if _storable(extras[: mid + 1]) is None:
            lo = mid + 1
        else:
            hi = mid
    prefix = extras[: hi + 1]
    error = _storable(prefix) or error
    field_name = "extra_info"
    for key in prefix[-1]:
        if _storable([{key: e.get(key)} for e in prefix]) is not None:
            field_name = f"extra_info.{key}"
            break
    raise DataError(file, f"cannot be stored as one parquet column with the earlier rows ({error}); give each "
                          "key one JSON shape in every row", row_numbers[hi], field_name)


def rows_to_table(rows: list[dict]) -> pa.Table:
    """verl rows as an arrow table with a fixed schema for everything but extra_info (inferred)."""
    columns = {
        "data_source": pa.array([r["data_source"] for r in rows], pa.string()),
        "prompt": pa.array([r["prompt"] for r in rows], _PROMPT_TYPE),
        "ability": pa.array([r["ability"] for r in rows], pa.string()),
        "reward_model": pa.array(
            [r["reward_model"] for r in rows],
            pa.struct([("style", pa.string()), ("ground_truth", pa.string())]),
        ),
        "extra_info": pa.array([r["extra_info"] for r in rows]),
    }
    return pa.table(columns)


def convert(src: str | Path, dst: str | Path, split: str = "train") -> ConvertResult:
    """Convert a seed-format data file to verl parquet at ``dst``."""
    src, dst = Path(src), Path(dst)
    rows = load_rows(src, split)  # every row checked storable (file, row and field named otherwise)
    table = rows_to_table(rows)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(dst)
    return ConvertResult(rows=len(rows), output=dst, data_sources=Counter(r["data_source"] for r in rows))


def require_full_batch(path: str | Path, rows: int, batch_size: int) -> None:
    """Both engines train on full batches of prompts only: fewer rows than one batch means no step at all."""
    if rows < batch_size:
        raise DataError(path, f"has {rows} rows, fewer than spec.training.batchSize={batch_size}: a training step "
                              "needs a full batch of prompts (verl drops the incomplete last batch and stops with "
                              "'Train dataloader is empty!'). Add rows or lower training.batchSize")
