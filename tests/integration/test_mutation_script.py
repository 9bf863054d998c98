"""benchmarks/mutation.py end to end on a tiny module: mutants made by cosmic-ray, run against the module's test
in a scratch copy, equivalents set aside from a TOML file, survivors reported with file:line and diff."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cosmic_ray") is None,
                                reason="cosmic-ray is not installed (pip install cosmic-ray==8.7.0)")

MODULE = '''\
def floor_at(x, lo):
    if x < lo:
        return lo
    return x
'''
TEST = '''\
from tiny import floor_at


def test_floor_at():
    assert floor_at(5, 0) == 5
'''
EQUIVALENTS = '''\
[[equivalent]]
module = "tiny.py"
operator = "core/ReplaceComparisonOperator_Lt_LtE"
line = "if x < lo:"
mutant = "if x <= lo:"
why = "at x == lo both return lo"
'''


def test_mutation_script_on_a_tiny_module(tmp_path):
    root = tmp_path / "root"
    (root / "tests").mkdir(parents=True)
    (root / "tiny.py").write_text(MODULE)
    (root / "tests" / "test_tiny.py").write_text(TEST)
    (tmp_path / "eq.toml").write_text(EQUIVALENTS)
    out = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "mutation.py"), "--root", str(root), "--module", "tiny.py",
         "--tests", "tests/test_tiny.py", "--sample", "0", "--equivalents", str(tmp_path / "eq.toml"),
         "--json", str(out), "--min-score", "0.99"],
        capture_output=True, text=True, timeout=120,
    )
    [result] = json.loads(out.read_text())
    assert result["equivalent"] == 1
    assert "at x == lo both return lo" in run.stdout
    # `<` becomes ==, !=, <= (set aside), >, >=, is, is not, and `not x < lo`: the test never tries x < lo, so
    # == and `is` survive
    assert (result["mutants"], result["tested"], result["killed"]) == (8, 7, 5)
    assert sorted(s["operator"] for s in result["survivors"]) == [
        "core/ReplaceComparisonOperator_Lt_Eq", "core/ReplaceComparisonOperator_Lt_Is"]
    assert "SURVIVED tiny.py:2 core/ReplaceComparisonOperator_Lt_Eq" in run.stdout
    assert "-    if x < lo:\n+    if x == lo:" in run.stdout
    assert run.returncode == 1  # below --min-score
    assert f"tiny.py: score {result['score']:.0%}" in run.stdout
    assert (root / "tiny.py").read_text() == MODULE  # the checkout itself is never mutated
