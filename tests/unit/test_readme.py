"""README stays true: the generated reference table, the two commands, and CI running the test command."""

import re
from pathlib import Path

from grpo_api.docs import generated_block

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_reference_table_is_current():
    assert generated_block() in README, "README reference is stale: python -m grpo_api.docs --write README.md"


def _first_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_readme_starts_with_main_job_and_tests():
    main_job, tests = _first_commands()
    assert "./train.sh --local" in main_job
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = _first_commands()
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in [line.strip() for line in ci.splitlines()], f"{tests!r} not in .ci/run"
