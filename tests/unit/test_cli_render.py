"""`grpo render`, `grpo validate`, `grpo crd`: golden files for every example, and error messages that name
the field. Regenerate the golden files after an intended change with `UPDATE_GOLDEN=1 pytest tests/unit/test_cli_render.py`
and review the diff."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from grpo_cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = Path(__file__).resolve().parent / "golden"
IMAGE = "ghcr.io/grpo-operator/trainer:golden"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_render_matches_golden(example, capsys):
    code, out, err = run(capsys, "render", str(example), "--image", IMAGE)
    assert code == 0, err
    golden = GOLDEN / example.name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(out)
    assert golden.exists(), f"{golden} missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert out == golden.read_text(), f"render of {example.name} differs from {golden}; if intended, regenerate " \
                                      "with UPDATE_GOLDEN=1 and review the diff"


def test_every_example_has_a_golden_file_and_no_stale_ones():
    assert sorted(p.name for p in GOLDEN.glob("*.yaml")) == sorted(p.name for p in EXAMPLES)


def test_render_skips_other_kinds_and_parses_back(capsys):
    code, out, _ = run(capsys, "render", str(ROOT / "examples/minimal.yaml"), "--namespace", "ml", "--image", IMAGE)
    assert code == 0
    objs = list(yaml.safe_load_all(out))
    # the example's own data ConfigMap is the user's, not a child: not rendered
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("ConfigMap", "math-reasoning-config"), ("NetworkPolicy", "math-reasoning-trainer"), ("Job", "math-reasoning")]
    assert {o["metadata"]["namespace"] for o in objs} == {"ml"}
    assert objs[2]["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert objs[0]["metadata"]["ownerReferences"][0]["uid"] == cli.RENDER_UID


def test_render_uses_the_image_env_when_no_flag(capsys, monkeypatch):
    monkeypatch.setenv("GRPO_TRAINER_IMAGE", "mirror.local/t:1")
    code, out, _ = run(capsys, "render", str(ROOT / "examples/local-cpu.yaml"))
    assert code == 0
    assert list(yaml.safe_load_all(out))[-1]["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.local/t:1"


def write(tmp_path, text, name="job.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


BASE = """\
apiVersion: grpo.dev/v1alpha1
kind: GRPOJob
metadata:
  name: {name}
spec:
  model:
    path: Qwen/Qwen2.5-0.5B-Instruct
  data:
    train:
      path: /data/train.json
{extra}"""


def manifest(name="demo", extra=""):
    return BASE.format(name=name, extra=textwrap.indent(textwrap.dedent(extra), "  "))


INVALID = [
    ("rollout-n-too-small", manifest(extra="grpo:\n  rolloutN: 1\n"), "spec.grpo.rolloutN", "greater than or equal to 2"),
    ("typo-field", manifest(extra="grpo:\n  rolloutn: 8\n"), "spec.grpo.rolloutn", "unknown field"),
    ("bad-kl-type", manifest(extra="grpo:\n  klLossType: fancy\n"), "spec.grpo.klLossType", "low_var_kl"),
    ("multinode-no-claim", manifest(extra="resources:\n  nodes: 2\n"), "spec", "checkpoint.claimName"),
    ("two-data-sources", manifest(extra="").replace("path: /data/train.json",
                                                     "path: /data/train.json\n      url: https://x.org/t.json"),
     "spec.data.train", "exactly one of configMap, pvc, url, path"),
    ("managed-override", manifest(extra="overrides:\n  - actor_rollout_ref.rollout.n=3\n"), "spec.overrides",
     "actor_rollout_ref.rollout.n"),
    ("name-too-long", manifest(name="x" * 48), "metadata.name", "at most 47"),
    ("missing-model", manifest().replace("  model:\n    path: Qwen/Qwen2.5-0.5B-Instruct\n", ""), "spec.model",
     "required"),
]


@pytest.mark.parametrize(("case", "text", "field", "words"), INVALID, ids=[c[0] for c in INVALID])
def test_validate_names_the_field(case, text, field, words, tmp_path, capsys):
    code, out, err = run(capsys, "validate", write(tmp_path, text))
    assert code == 1
    assert "invalid" in err
    problem = next((line for line in err.splitlines() if line.strip().startswith(f"- {field}")), None)
    assert problem is not None, err
    assert words in problem, err
    # render refuses the same manifest with the same words
    code, out, err2 = run(capsys, "render", write(tmp_path, text))
    assert code == 1 and out == "" and words in err2


def test_validate_accepts_every_example(capsys):
    for example in EXAMPLES:
        code, out, err = run(capsys, "validate", str(example))
        assert code == 0, err
        assert ": valid (" in out


def test_validate_multi_document_reports_each_grpojob_and_skips_other_kinds(tmp_path, capsys):
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: data}\ndata: {a: b}\n---\n"
            + manifest(name="good") + "---\n" + manifest(name="bad", extra="training:\n  epochs: 0\n"))
    code, out, err = run(capsys, "validate", write(tmp_path, text))
    assert code == 1
    assert "GRPOJob/good: valid (Job, engine verl)" in out
    assert "GRPOJob/bad: invalid" in err and "spec.training.epochs" in err
    assert "ConfigMap" not in out + err


def test_validate_catches_a_misspelled_kind_in_the_grpo_group(tmp_path, capsys):
    code, _, err = run(capsys, "validate", write(tmp_path, manifest().replace("kind: GRPOJob", "kind: GrpoJob")))
    assert code == 1 and "kind: must be 'GRPOJob'" in err


def test_validate_file_errors(tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 1 and "nope.yaml: cannot read the file" in err
    code, _, err = run(capsys, "validate", write(tmp_path, "apiVersion: v1\nkind: [unclosed\n"))
    assert code == 1 and "line 3" in err and "not valid YAML" in err
    code, _, err = run(capsys, "validate", write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
    assert code == 1 and "no GRPOJob document found" in err


def test_crd_prints_the_checked_in_crd(capsys):
    code, out, _ = run(capsys, "crd")
    assert code == 0
    assert out == (ROOT / "crds/grpojob.yaml").read_text()


def test_train_is_deferred_to_its_module(tmp_path, capsys, monkeypatch):
    (tmp_path / "grpo_train_probe.py").write_text(
        "import json, pathlib\n"
        "def main(argv):\n"
        "    pathlib.Path(__file__).with_suffix('.json').write_text(json.dumps(argv))\n"
        "    return 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.DEFERRED_COMMANDS, "train", ("grpo_train_probe", "probe"))
    assert cli.main(["train", "--local", "--model", "x"]) == 7
    assert (tmp_path / "grpo_train_probe.json").read_text() == '["--local", "--model", "x"]'


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["render"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


def test_console_script_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "grpo_cli.main", "validate",
                           str(ROOT / "examples/multi-node.yaml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "GRPOJob/qwen-7b-2x8: valid (RayJob, engine verl)" in proc.stdout
