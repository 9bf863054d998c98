import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer_entry.data import DataError, convert, load_rows

SEED_ROW = {"prompt": "请解答：15 + 27 = ?", "ground_truth": "42", "data_source": "math_reasoning"}


def write_json(path, rows):
    path.write_text(json.dumps(rows))  # ASCII: a lone surrogate stays a \\ud800 escape
    return path


def test_seed_json_converts_to_verl_parquet(tmp_path):
    src = write_json(
        tmp_path / "train.json",
        [
            SEED_ROW,
            {
                "prompt": "capital of France?",
                "ground_truth": "Paris",
                "data_source": "qa",
                "extra_info": {"id": "q7"},
            },
        ],
    )
    result = convert(src, tmp_path / "out" / "train.parquet")
    assert result.rows == 2
    assert result.data_sources == {"math_reasoning": 1, "qa": 1}
    rows = pq.read_table(result.output).to_pylist()
    assert rows[0]["prompt"] == [{"role": "user", "content": "请解答：15 + 27 = ?"}]
    assert rows[0]["reward_model"] == {"style": "rule", "ground_truth": "42"}
    assert rows[0]["data_source"] == "math_reasoning"
    assert rows[0]["ability"] == "math_reasoning"
    assert rows[0]["extra_info"]["index"] == 0
    assert rows[1]["extra_info"] == {"id": "q7", "index": 1, "split": "train"}


def test_jsonl_chat_prompt_and_numeric_ground_truth(tmp_path):
    src = tmp_path / "d.jsonl"
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    src.write_text(
        json.dumps({"prompt": chat, "ground_truth": 4, "data_source": "gsm8k", "extra_info": {"index": 17}})
        + "\n\n"
        + json.dumps(SEED_ROW)
        + "\n"
    )
    rows = load_rows(src, split="test")
    assert rows[0]["prompt"] == chat
    assert rows[0]["reward_model"]["ground_truth"] == "4"
    assert rows[0]["extra_info"] == {"index": 17, "split": "test"}
    assert rows[1]["extra_info"]["index"] == 1


def test_parquet_input_and_verl_passthrough(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([SEED_ROW, {**SEED_ROW, "ground_truth": "7"}]), src)
    out = convert(src, tmp_path / "once.parquet").output
    # A verl-format parquet converts again to the same rows (reward_model accepted in place of ground_truth).
    again = convert(out, tmp_path / "twice.parquet").output
    assert pq.read_table(again).to_pylist() == pq.read_table(out).to_pylist()


def test_mixed_int_float_extra_info_becomes_float(tmp_path):
    src = write_json(
        tmp_path / "m.json",
        [{**SEED_ROW, "extra_info": {"w": 1}}, {**SEED_ROW, "extra_info": {"w": 0.5}}],
    )
    rows = pq.read_table(convert(src, tmp_path / "m.parquet").output).to_pylist()
    assert [r["extra_info"]["w"] for r in rows] == [1.0, 0.5]


BAD_ROWS = [
    # (description, bad row, expected field, expected words)
    ("not an object", ["a", "list"], None, "must be an object"),
    ("missing prompt", {"ground_truth": "1", "data_source": "qa"}, "prompt", "missing"),
    ("empty prompt", {**SEED_ROW, "prompt": "   "}, "prompt", "must not be empty"),
    ("numeric prompt", {**SEED_ROW, "prompt": 12}, "prompt", "string or a list of chat messages"),
    (
        "bad chat role",
        {**SEED_ROW, "prompt": [{"role": "robot", "content": "hi"}]},
        "prompt[0]",
        "role must be",
    ),
    (
        "chat content not str",
        {**SEED_ROW, "prompt": [{"role": "user", "content": 5}]},
        "prompt[0].content",
        "string",
    ),
    (
        "chat without user",
        {**SEED_ROW, "prompt": [{"role": "system", "content": "x"}]},
        "prompt",
        "no non-empty 'user'",
    ),
    ("missing ground_truth", {"prompt": "p", "data_source": "qa"}, "ground_truth", "missing"),
    ("empty ground_truth", {**SEED_ROW, "ground_truth": ""}, "ground_truth", "must not be empty"),
    ("list ground_truth", {**SEED_ROW, "ground_truth": ["42"]}, "ground_truth", "must be a string"),
    ("bool ground_truth", {**SEED_ROW, "ground_truth": True}, "ground_truth", "must be a string"),
    ("missing data_source", {"prompt": "p", "ground_truth": "1"}, "data_source", "missing"),
    ("empty data_source", {**SEED_ROW, "data_source": ""}, "data_source", "non-empty string"),
    ("extra_info not object", {**SEED_ROW, "extra_info": "x"}, "extra_info", "must be an object"),
    ("extra_info.index not int", {**SEED_ROW, "extra_info": {"index": "3"}}, "extra_info.index", "integer"),
    ("typo field", {**SEED_ROW, "groundtruth": "42"}, "groundtruth", "unknown field"),
    ("both answers", {**SEED_ROW, "reward_model": {"ground_truth": "1"}}, "reward_model", "not both"),
    ("ability not str", {**SEED_ROW, "ability": 3}, "ability", "must be a string"),
    # issue 14: each of these raised a raw Python/arrow error (pod exit 1, retried) instead of DataError (exit 3)
    ("lone surrogate", {**SEED_ROW, "prompt": "x\ud800"}, "prompt", "lone surrogate"),
    ("lone surrogate in extra_info key", {**SEED_ROW, "extra_info": {"k\udfff": 1}}, "extra_info",
     "lone surrogate"),
    ("index over int64", {**SEED_ROW, "extra_info": {"index": 2**70}}, "extra_info.index", "64 bits"),
    ("nested int over int64", {**SEED_ROW, "extra_info": {"level": 3, "x": [-(2**64)]}}, "extra_info.x[0]",
     "64 bits"),
    ("empty nested object", {**SEED_ROW, "extra_info": {"a": {}}}, "extra_info.a", "empty object"),
    ("nested too deeply", {**SEED_ROW, "extra_info": {"a": json.loads("[" * 40 + "]" * 40)}}, "extra_info.a" +
     "[0]" * 32, "nested more than 32 levels"),
    ("mixed list", {**SEED_ROW, "extra_info": {"level": 3, "tags": [1, "x"]}}, "extra_info.tags",
     "one parquet column"),
    ("nested shape drift", {**SEED_ROW, "extra_info": {"level": 3, "meta": [{"x": 1}]}}, "extra_info.meta",
     "one parquet column"),
    (
        "extra_info type drift",
        {**SEED_ROW, "extra_info": {"level": "hard"}},
        "extra_info.level",
        "earlier row",
    ),
]


@pytest.mark.parametrize("desc,bad,field,words", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_row_names_file_row_and_field(tmp_path, desc, bad, field, words):
    good = {**SEED_ROW, "extra_info": {"level": 3, "meta": [4]}}
    src = write_json(tmp_path / "train.json", [good, good, bad, good])
    with pytest.raises(DataError) as err:
        convert(src, tmp_path / "out.parquet")
    e = err.value
    assert e.file == str(src)
    assert e.row == 3
    assert e.field == field
    assert words in str(e)
    assert str(src) in str(e) and "row 3" in str(e)
    assert not (tmp_path / "out.parquet").exists()


def test_bad_jsonl_line_reports_line_number(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps(SEED_ROW) + "\n" + '{"prompt": "x",\n')
    with pytest.raises(DataError, match=r"row 2: line is not valid JSON"):
        load_rows(src)


@pytest.mark.parametrize(
    "name,content,words",
    [
        ("d.json", '{"prompt": "x"}', "must hold a list of rows"),
        ("d.json", "[{,]", "not valid JSON"),
        ("d.json", "[]", "contains no rows"),
        ("d.csv", "a,b", "unsupported file type '.csv'"),
        ("d.parquet", "not parquet", "not a readable parquet file"),
        ("d.json", "[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply"),
        ("d.json", '[{"prompt": "p", "ground_truth": ' + "7" * 5000 + "}]", "more digits than Python reads"),
        ("d.jsonl", "[" * 100_000 + "\n", "row 1: line is not valid JSON: nested too deeply"),
        ("d.json", b"[\"\xff\"]", "not UTF-8 text"),
    ],
    ids=["object", "broken", "empty", "csv", "parquet", "deep-json", "bigint", "deep-jsonl", "not-utf8"],
)
def test_bad_files(tmp_path, name, content, words):
    src = tmp_path / name
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError, match=re.escape(words)):
        load_rows(src)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_rows(tmp_path / "nope.json")


# --- fuzzing: any input converts, or is a DataError naming the file (and the row and field for a bad row) -----

_texts = st.text(st.characters(exclude_categories=[]), max_size=6)  # lone surrogates included
_json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
                 | st.floats(allow_nan=False) | _texts
                 | st.sampled_from([2**63, -(2**63) - 1, "\ud800", "a\udfffb"]))  # just past what parquet holds
_json_values = st.recursive(_json_scalars, lambda kids: st.lists(kids, max_size=3)
                            | st.dictionaries(_texts, kids, max_size=3), max_leaves=12)
_mostly_good = st.sampled_from(["2 + 2 = ?", "x", "math"])  # keeps most rows valid up to the field under test
_prompts = st.one_of(_mostly_good, _texts, st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "robot"]), "content": _mostly_good | _json_values}), max_size=2),
    _json_values)
_rows = st.one_of(_json_values, st.fixed_dictionaries(
    {"prompt": _prompts, "ground_truth": _mostly_good | _json_values, "data_source": _mostly_good | _texts},
    optional={"extra_info": st.one_of(st.dictionaries(_texts, _json_values, max_size=3), _json_values),
              "ability": _mostly_good | _json_values, "reward_model": _json_values}))
_rows = _rows | st.builds(lambda v: {"prompt": "p", "ground_truth": "1", "data_source": "s", "extra_info": {"k": v}},
                          _json_values | st.just({}))


def _convert_or_data_error(src, out):
    try:
        result = convert(src, out)
    except DataError as e:
        assert e.file == str(src) and str(src) in str(e)
        return e
    assert pq.read_table(out).num_rows == result.rows
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_rows, min_size=1, max_size=4), jsonl=st.booleans())
def test_fuzz_rows_convert_or_name_row(tmp_path, rows, jsonl):
    src = tmp_path / ("d.jsonl" if jsonl else "d.json")
    src.write_text("\n".join(json.dumps(r) for r in rows) if jsonl else json.dumps(rows))  # ASCII escapes
    err = _convert_or_data_error(src, tmp_path / "out.parquet")
    if err is not None:
        assert err.row is not None, err  # every record parsed: the problem is in a row
        assert 1 <= err.row <= len(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64) | st.text(max_size=64).map(str.encode),
       suffix=st.sampled_from([".json", ".jsonl", ".parquet"]))
def test_fuzz_bytes_convert_or_data_error(tmp_path, data, suffix):
    src = tmp_path / f"d{suffix}"
    src.write_bytes(data)
    _convert_or_data_error(src, tmp_path / "out.parquet")


def test_embedded_data_sets_match_the_api():
    from grpo_api.constants import EMBEDDED_DATA_SETS, EMBEDDED_MODELS, EMBEDDED_PREFIX
    from trainer_entry.embedded.defaults import EMBEDDED_MODEL
    from trainer_entry.main import EMBEDDED_PREFIX as TRAINER_PREFIX
    from trainer_entry.main import embedded_data_sets

    assert sorted(embedded_data_sets()) == sorted(EMBEDDED_DATA_SETS)
    assert TRAINER_PREFIX == EMBEDDED_PREFIX and EMBEDDED_PREFIX + EMBEDDED_MODELS[0] == EMBEDDED_MODEL
