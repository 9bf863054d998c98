"""`grpo validate`/`grpo render` on hostile input: a clean one-line error and exit 1 (2 for usage), never a
traceback, and never an unbounded expansion (a YAML alias bomb, deep nesting, a huge file)."""

import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpo_cli import main as cli

MAX_MANIFEST_BYTES = 3 * 1024 * 1024  # grpo_cli.manifests: the API server's request limit

HEAD = "apiVersion: grpo.dev/v1alpha1\nkind: GRPOJob\n"
SPEC = "spec:\n  model: {path: Qwen/Qwen2.5-7B}\n  data: {train: {path: /d.json}}\n"


def run(tmp_path, capsys, data, command="validate"):
    path = tmp_path / "job.yaml"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    code = cli.main([command, str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def alias_bomb(levels: int, fan: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines)


@pytest.mark.parametrize("command", ["validate", "render"])
@pytest.mark.parametrize(("text", "words"), [
    (HEAD + "metadata:\n" + SPEC, "metadata: Input should be a valid dictionary"),
    (HEAD + "metadata: [a, b]\n" + SPEC, "metadata: Input should be a valid dictionary"),
    (HEAD + "metadata: {name: [x]}\n" + SPEC, "metadata.name"),
    (HEAD + "metadata: {name: job}\n" + SPEC + "  pod:\n    affinity:\n      " + alias_bomb(3).replace("\n", "\n      "),
     "spec.pod.affinity"),
    # issue 14: 1.3 KB that rendered a 14 MB config, and a slightly bigger one that took 3 GB and died
    (HEAD + alias_bomb(6) + "\nmetadata: {name: job}\n" + SPEC + "  overrides: *l5\n",
     "too large once its YAML aliases"),
    (HEAD + alias_bomb(9) + "\nmetadata: {name: job}\n" + SPEC + "  overrides: *l8\n",
     "too large once its YAML aliases"),
    (HEAD + "x: &a [*a]\n", "refers to its own parent"),
    (HEAD + "x: " + "[" * 100_000 + "]" * 100_000, "line 3: nested more than 100 levels deep"),
    (HEAD + "".join(f"{' ' * i}a:\n" for i in range(1500)), "nested more than 100 levels deep"),
    (HEAD + "x: " + "[" * 150 + "]" * 150, "nested more than 100 levels"),
    (HEAD + 'metadata: {name: job, annotations: {a: "\\ud800"}}\n' + SPEC, "lone surrogate"),
    (b"kind: GRPOJob\nx: '\xff'\n", "line 2: not UTF-8 text"),
], ids=["meta-null", "meta-list", "name-list", "small-aliases", "bomb-1", "bomb-2", "recursive", "deep-flow", "deep-block", "deep-100",
        "surrogate", "not-utf8"])
def test_bad_manifest_is_refused_cleanly(tmp_path, capsys, command, text, words):
    start = time.monotonic()
    code, out, err = run(tmp_path, capsys, text, command)
    assert code == 1 and out == ""
    assert words in err
    assert time.monotonic() - start < 5


def test_file_over_the_api_server_limit_is_refused(tmp_path, capsys):
    code, _, err = run(tmp_path, capsys, HEAD + "x: '" + "a" * MAX_MANIFEST_BYTES + "'\n")
    assert code == 1 and f"larger than {MAX_MANIFEST_BYTES} bytes" in err


# --- fuzzing --------------------------------------------------------------------------------------------------

_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_keys = st.sampled_from(["apiVersion", "kind", "metadata", "spec", "name", "model", "data", "train", "path", "pod",
                         "labels", "env", "resources", "memory", "grpo", "rolloutN", "x"]) | st.text(max_size=5)
_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
            | st.text(max_size=8) | st.sampled_from(["GRPOJob", "grpo.dev/v1alpha1", "job", "64e9", "trl"]))
_yaml_values = st.recursive(_scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_keys, kids, max_size=4),
                            max_leaves=20)


@_FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: (HEAD + t).encode("utf-8", "surrogatepass")))
def test_fuzz_bytes(tmp_path, capsys, data):
    code, _, _ = run(tmp_path, capsys, data)
    assert code in (0, 1)


@_FUZZ
@given(body=st.fixed_dictionaries({"apiVersion": st.just("grpo.dev/v1alpha1"), "kind": st.just("GRPOJob")},
                                  optional={"metadata": _yaml_values, "spec": _yaml_values}),
       command=st.sampled_from(["validate", "render"]))
def test_fuzz_yaml_structures(tmp_path, capsys, body, command):
    code, _, _ = run(tmp_path, capsys, yaml.safe_dump(body, allow_unicode=True), command)
    assert code in (0, 1)
