"""Static checks of the two Dockerfiles (no Docker engine here): pinned bases, pinned deps, exec form, user."""

import importlib.metadata
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\b")


def instructions(path):
    """(INSTRUCTION, argument) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / path).read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args_of(path):
    return {k: v for k, v in (a.split("=", 1) for i, a in instructions(path) if i == "ARG" and "=" in a)}


@pytest.mark.parametrize("path", ["images/trainer/Dockerfile", "images/operator/Dockerfile"])
def test_base_pinned_by_tag_and_digest(path):
    froms = [a for i, a in instructions(path) if i == "FROM"]
    assert len(froms) == 1
    ref = froms[0]
    for name, value in args_of(path).items():
        ref = ref.replace("${" + name + "}", value)
    assert DIGEST.search(ref), ref
    assert ":" in ref.split("@")[0], f"no tag in {ref}"


@pytest.mark.parametrize("path", ["images/trainer/Dockerfile", "images/operator/Dockerfile"])
def test_exec_form_entrypoint_labels_and_no_secrets(path):
    ins = instructions(path)
    entry = [a for i, a in ins if i == "ENTRYPOINT"]
    assert len(entry) == 1 and isinstance(json.loads(entry[0]), list)
    labels = " ".join(a for i, a in ins if i == "LABEL")
    for key in ("title", "version", "revision", "source", "licenses", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels
    env = " ".join(a for i, a in ins if i in ("ENV", "ARG"))
    assert not re.search(r"(TOKEN|PASSWORD|SECRET|API_KEY)\s*=", env, re.I)


def test_trainer_entrypoint_and_verl_version():
    ins = instructions("images/trainer/Dockerfile")
    assert json.loads(next(a for i, a in ins if i == "ENTRYPOINT")) == ["tini", "-s", "--", "python", "-m",
                                                                          "trainer_entry"]
    assert any(i == "RUN" and "apt-get install" in a and " tini" in a for i, a in ins)
    reqs = (ROOT / "images/trainer/requirements.txt").read_text()
    assert "verl==0.9.1" in reqs
    assert any(i == "RUN" and "--no-deps -r images/trainer/requirements.txt" in a for i, a in ins)


def test_trainer_runs_as_the_numeric_non_root_user_the_pod_sets():
    from grpo_api.spec import TRAINER_UID

    ins = instructions("images/trainer/Dockerfile")
    user = [a for i, a in ins if i == "USER"]
    assert user and re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", user[-1]), user
    assert user[-1].split(":")[0] == str(TRAINER_UID), "the image's USER and the pod's default runAsUser differ"
    assert any(i == "RUN" and f"useradd --uid {TRAINER_UID}" in a for i, a in ins)


def test_operator_runs_kopf_as_numeric_non_root():
    ins = instructions("images/operator/Dockerfile")
    user = [a for i, a in ins if i == "USER"]
    assert user and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user[-1]), user
    entry = json.loads(next(a for i, a in ins if i == "ENTRYPOINT"))
    assert entry[:3] == ["kopf", "run", "--standalone"] and "grpo_operator.handlers" in entry


@pytest.mark.parametrize("path", ["images/operator/requirements.txt", "images/trainer/requirements.txt"])
def test_requirements_pinned_to_tested_versions(path):
    lines = [
        ln.strip() for ln in (ROOT / path).read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert lines
    for line in lines:
        name, sep, version = line.partition("==")
        assert sep and version, f"{path}: {line!r} is not pinned with =="
        assert importlib.metadata.version(name) == version, (
            f"{path}: {name} pinned {version}, tested with other"
        )
