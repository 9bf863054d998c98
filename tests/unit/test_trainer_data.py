import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trainer_entry.data import DataError, convert, load_rows

SEED_ROW = {"prompt": "请解答：15 + 27 = ?", "ground_truth": "42", "data_source": "math_reasoning"}


def write_json(path, rows):
    path.write_text(json.dumps(rows, ensure_ascii=False))
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
    (
        "extra_info type drift",
        {**SEED_ROW, "extra_info": {"level": "hard"}},
        "extra_info.level",
        "earlier row",
    ),
]


@pytest.mark.parametrize("desc,bad,field,words", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_row_names_file_row_and_field(tmp_path, desc, bad, field, words):
    good = {**SEED_ROW, "extra_info": {"level": 3}}
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
    ],
)
def test_bad_files(tmp_path, name, content, words):
    src = tmp_path / name
    src.write_text(content)
    with pytest.raises(DataError, match=words):
        load_rows(src)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_rows(tmp_path / "nope.json")
