"""Mutation testing of one module against the tests that cover it.

Mutants come from cosmic-ray's operators (comparison, binary/unary operator, boolean, number, `and`/`or`,
break/continue, exception, decorator and for-loop mutations; cosmic-ray does not mutate strings). Each mutant
is written into a scratch copy of the checkout (the checkout itself is never touched) and the selected tests
are run against it; a mutant survives when they all still pass. Mutants listed in
benchmarks/mutation_equivalents.toml (equivalent: no input can tell them apart from the original) are set
aside before sampling. Prints the score and every surviving mutant (file:line, operator, diff).

Needs cosmic-ray, which the default test run does not:   pip install cosmic-ray==8.7.0

    python benchmarks/mutation.py --list                                  # the named modules and their tests
    python benchmarks/mutation.py numeric                                 # one named module, its tests
    python benchmarks/mutation.py all --sample 80                         # every named module, one after another
    python benchmarks/mutation.py --module trainer_entry/rewards/numeric.py \\
        --tests "tests/unit/test_reward_numeric.py -k percent" --sample 60 --seed 1

Speed: the test command runs in a child forked from a process that has already imported pytest, its plugins
and the heavy third-party packages (not the module under test), so a mutant costs the tests' own time plus
~0.3 s instead of ~3 s of interpreter and plugin start-up. `--no-fork` runs a fresh `python -m pytest` instead.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fnmatch
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.toml"
CR_VERSION = "8.7.0"

# name -> (module path, test selection). A test file that does not exist (yet) is left out with a note.
PRESETS: dict[str, tuple[str, str]] = {
    "status_derive": (
        "operator/grpo_operator/status_derive.py",
        "tests/unit/test_operator_logic.py tests/unit/test_pin_status.py tests/unit/test_status_termination.py "
        "tests/unit/test_operator_faults_logic.py tests/unit/test_operator_warnings.py",
    ),
    "job": (
        "operator/grpo_operator/builders/job.py",
        "tests/unit/test_builders.py tests/unit/test_operator_logic.py tests/unit/test_pin_builders.py",
    ),
    "pod": (
        "operator/grpo_operator/builders/pod.py",
        "tests/unit/test_builders.py tests/unit/test_trainer_pod_defaults.py tests/unit/test_trainer_pod_security.py "
        "tests/unit/test_pin_builders.py",
    ),
    "rayjob": (
        "operator/grpo_operator/builders/rayjob.py",
        "tests/unit/test_builders.py tests/unit/test_pin_rayjob.py "
        "tests/unit/test_rayjob_upstream.py::test_rayjob_is_valid_for_kuberay_and_kueue "
        "tests/unit/test_rayjob_upstream.py::test_ray_cluster_is_deleted_when_the_job_ends_whatever_the_grpojob_ttl",
    ),
    "network_policy": (
        "operator/grpo_operator/builders/network_policy.py",
        "tests/unit/test_builders.py tests/unit/test_pin_network_policy.py",
    ),
    "configmaps": (
        "operator/grpo_operator/builders/configmaps.py",
        "tests/unit/test_builders.py tests/unit/test_pin_configmaps.py",
    ),
    "builders_common": (
        "operator/grpo_operator/builders/common.py",
        "tests/unit/test_builders.py tests/unit/test_pin_common.py",
    ),
    "builders_init": (
        "operator/grpo_operator/builders/__init__.py",
        "tests/unit/test_builders.py tests/unit/test_pin_common.py",
    ),
    "rules": ("api/grpo_api/rules.py", "tests/unit/test_api_invalid.py tests/unit/test_api_crd.py tests/unit/test_pin_rules.py"),
    "spec": (
        "api/grpo_api/spec.py",
        "tests/unit/test_api_invalid.py tests/unit/test_api_examples.py tests/unit/test_pin_spec.py "
        "tests/unit/test_pin_spec_bounds.py tests/unit/test_pin_spec_lengths.py tests/unit/test_pin_spec_size.py "
        "tests/unit/test_pin_spec_pod.py",
    ),
    "verl_rules": (
        "api/grpo_api/verl_rules.py",
        "tests/unit/test_verl_rules.py tests/unit/test_pin_verl_rules.py -k 'not accept_exactly'",
    ),
    "k8s_rules": ("api/grpo_api/k8s_rules.py", "tests/unit/test_api_invalid.py tests/unit/test_pin_k8s_rules.py"),
    "text_match": (
        "trainer_entry/rewards/text_match.py",
        "tests/unit/test_reward_text.py tests/unit/test_pin_text_match.py",
    ),
    # The cold-start test (a fresh interpreter importing sympy, ~8 s) is left out: it pins the warm-up, not a verdict.
    "boxed": (
        "trainer_entry/rewards/boxed.py",
        "tests/unit/test_pin_math.py tests/unit/test_reward_math.py -k 'not cold_start'",
    ),
    "latex_math": (
        "trainer_entry/rewards/latex_math.py",
        "tests/unit/test_pin_math.py tests/unit/test_reward_math.py -k 'not cold_start'",
    ),
    # The code reward's trainer-side judge; the sandbox-backed cases run the policy's reward hacks through it.
    "assert_split": (
        "trainer_entry/rewards/assert_split.py",
        "tests/unit/test_pin_assert_split.py tests/unit/test_reward_code.py::test_reward_hack_scores_zero "
        "tests/unit/test_reward_code.py::test_formats",
    ),
    "numeric": (
        "trainer_entry/rewards/numeric.py",
        "tests/unit/test_reward_numeric.py tests/unit/test_pin_numeric.py",
    ),
    # build_overrides lives in the contract; the trainer's module adds the Ray CPU check and planned steps.
    # Left out for speed: verl's own config composition (tests/integration/test_trainer_verl_args.py, ~15 s) and
    # the model-vs-CRD hypothesis property (~12 s), which build_overrides does not reach.
    "verl_overrides": (
        "api/grpo_api/verl_overrides.py",
        "tests/unit/test_pin_verl_overrides.py tests/unit/test_verl_rules.py -k 'not accept_exactly'",
    ),
    "verl_trainer": ("trainer_entry/verl_engine/overrides.py", "tests/unit/test_pin_verl_overrides.py"),
}

# Imported once in the parent before forking (never the module under test): the import time a mutant saves.
PRELOAD = ("pytest", "hypothesis", "pydantic", "yaml", "_pytest.assertion.rewrite")
COPY_SKIP = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".hypothesis", ".tools", "*.pyc", "mutants")


@dataclass
class Mutant:
    module: str  # path relative to the root
    operator: str
    occurrence: int
    line: int
    removed: list[str]  # original lines the mutation changes (stripped)
    added: list[str]  # what they become (stripped)
    diff: str
    outcome: str = ""  # killed | survived | timeout | equivalent
    why: str = ""  # for equivalents: the reason from the equivalents file
    seconds: float = 0.0


def _need_cosmic_ray():
    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        sys.exit(f"mutation.py needs cosmic-ray: pip install cosmic-ray=={CR_VERSION}")


def enumerate_mutants(root: Path, module: str) -> list[Mutant]:
    """Every mutant cosmic-ray's operators make of `module` (those that take no arguments); the diff is made
    later, by `materialize`, for the mutants that need one (one parse per mutant is the slow part)."""
    import cosmic_ray.plugins
    from cosmic_ray.ast import ast_nodes, get_ast

    source = (root / module).read_text(encoding="utf-8")
    nodes = list(ast_nodes(get_ast(source)))
    mutants = []
    for name in cosmic_ray.plugins.operator_names():
        cls = cosmic_ray.plugins.get_operator(name)
        if cls.arguments():
            continue
        operator = cls()
        positions = [pos for node in nodes for pos in operator.mutation_positions(node)]
        for occurrence, (start, end) in enumerate(positions):
            m = Mutant(module, name, occurrence, start[0], [], [], "")
            m._span = (start[0], end[0])  # type: ignore[attr-defined]
            mutants.append(m)
    return mutants


def materialize(m: Mutant, source: str) -> bool:
    """Make the mutated source, its diff and the changed lines; False when the operator changes nothing."""
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    mutated = mutate_code(source, cosmic_ray.plugins.get_operator(m.operator)(), m.occurrence)
    if mutated is None or mutated == source:
        return False
    old, new = source.split("\n"), mutated.split("\n")
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            m.removed += [s.strip() for s in old[i1:i2]]
            m.added += [s.strip() for s in new[j1:j2]]
    m.diff = "\n".join(difflib.unified_diff(old, new, f"a/{m.module}", f"b/{m.module}", n=1, lineterm=""))
    m._mutated = mutated  # type: ignore[attr-defined]
    return True


def load_equivalents(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open("rb") as fh:
        entries = tomllib.load(fh).get("equivalent", [])
    for i, e in enumerate(entries):
        problems = [f"needs {k}" for k in ("module", "why") if k not in e]
        problems += [f"needs {k} or {k}_re" for k in ("line", "mutant") if (k in e) == (f"{k}_re" in e)]
        if problems:
            sys.exit(f"{path}: equivalent #{i + 1}: {'; '.join(problems)} (see the comment at the top of the file)")
        for k in ("line_re", "mutant_re"):
            if k in e:
                e[k] = re.compile(e[k])
    return entries


def _text_matches(entry: dict, key: str, lines: list[str]) -> bool:
    if key in entry:
        return "\n".join(lines) == entry[key]
    rx = entry[key + "_re"]  # every line must match; no line at all (a deletion) only if the regex matches ""
    return all(rx.fullmatch(s) for s in lines) if lines else bool(rx.fullmatch(""))


def match_equivalent(m: Mutant, entries: list[dict]) -> dict | None:
    """An entry matches on the module (a glob), the operator (a glob; any when not given), the original lines and
    the mutated lines (exact text, stripped, or a regex each line must match in full). Text, not line numbers:
    they shift as the code is edited."""
    for e in entries:
        if not fnmatch.fnmatchcase(m.module, e["module"]) or not fnmatch.fnmatchcase(m.operator, e.get("operator", "*")):
            continue
        if _text_matches(e, "line", m.removed) and _text_matches(e, "mutant", m.added):
            return e
    return None


def maybe_equivalent(m: Mutant, lines: list[str], entries: list[dict]) -> bool:
    """Cheap pre-check (no mutation made): does an entry for this module name a line inside the mutant's span?"""
    first, last = m._span  # type: ignore[attr-defined]
    span = [s.strip() for s in lines[first - 1:last]]
    for e in entries:
        if not fnmatch.fnmatchcase(m.module, e["module"]) or not fnmatch.fnmatchcase(m.operator, e.get("operator", "*")):
            continue
        if any(e["line_re"].fullmatch(s) for s in span) if "line_re" in e else e["line"].split("\n")[0] in span:
            return True
    return False


def make_copy(root: Path) -> Path:
    """A scratch copy of the checkout (without .git and caches) beside a link to ../shared."""
    work = Path(tempfile.mkdtemp(prefix="mutation-"))
    shutil.copytree(root, work / "repo", ignore=COPY_SKIP, symlinks=True)
    shared = root.parent / "shared"
    if shared.exists():
        (work / "shared").symlink_to(shared)
    return work


def package_paths(repo: Path) -> list[str]:
    """The import roots of the checkout: the repo itself and each package folder holding a pyproject.toml."""
    paths = [str(repo)]
    for sub in ("api", "operator", "cli"):
        if (repo / sub).is_dir():
            paths.insert(0, str(repo / sub))
    return paths


class Runner:
    """Runs the test selection in `repo`; True when every selected test passed."""

    def __init__(self, repo: Path, tests: list[str], fork: bool):
        self.repo, self.tests, self.fork = repo, tests, fork
        self.paths = package_paths(repo)
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(self.paths), PYTHONDONTWRITEBYTECODE="1")
        if fork:
            sys.dont_write_bytecode = True
            os.environ.update(PYTHONPATH=self.env["PYTHONPATH"], PYTHONDONTWRITEBYTECODE="1")
            sys.path[:0] = self.paths
            for name in PRELOAD:
                with contextlib.suppress(ImportError):
                    __import__(name)
            from importlib.metadata import entry_points

            for ep in entry_points(group="pytest11"):  # pytest's plugins, as pytest.main would load them
                with contextlib.suppress(Exception):  # a plugin that fails here fails the same way in the child
                    ep.load()

    def pytest_args(self) -> list[str]:
        return ["-q", "-x", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=", "-m", "not kind and not gpu",
                *self.tests]

    def run(self, timeout: float, log: Path) -> str:
        """'passed', 'failed' or 'timeout'."""
        if not self.fork:
            with log.open("wb") as out:
                try:
                    rc = subprocess.run([sys.executable, "-m", "pytest", *self.pytest_args()], cwd=self.repo,
                                        env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                        start_new_session=True).returncode
                except subprocess.TimeoutExpired:
                    return "timeout"
            return "passed" if rc == 0 else "failed"
        pid = os.fork()
        if pid == 0:  # the child: run pytest in-process, exit with its code
            try:
                os.setsid()
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.chdir(self.repo)
                import pytest

                rc = int(pytest.main(self.pytest_args()))
            except BaseException:  # noqa: BLE001 - any failure to run counts as "tests did not pass"
                rc = 99
            os._exit(rc)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return "passed" if os.waitstatus_to_exitcode(status) == 0 else "failed"
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout"
            time.sleep(0.02)


def existing_tests(root: Path, selection: str) -> list[str]:
    out = []
    for word in shlex.split(selection):
        path = word.split("::")[0]
        if not word.startswith("-") and path.endswith(".py") and not (root / path).exists():
            print(f"  (test file {path} does not exist here: left out)")
            continue
        out.append(word)
    return out


def run_module(root: Path, module: str, selection: str, sample: int, seed: int, fork: bool,
               equivalents: list[dict], only_def: str | None = None, verbose: bool = True) -> dict:
    t0 = time.monotonic()
    tests = existing_tests(root, selection)
    mutants = enumerate_mutants(root, module)
    if only_def:
        import ast

        tree = ast.parse((root / module).read_text(encoding="utf-8"))
        spans = [(n.lineno, n.end_lineno) for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == only_def]
        mutants = [m for m in mutants if any(a <= m.line <= b for a, b in spans)]
    source = (root / module).read_text(encoding="utf-8")
    lines = source.split("\n")
    total = len(mutants)
    set_aside = []
    for m in mutants:
        if maybe_equivalent(m, lines, equivalents) and materialize(m, source):
            e = match_equivalent(m, equivalents)
            if e:
                m.outcome, m.why = "equivalent", e["why"]
                set_aside.append(m)
    candidates = [m for m in mutants if not m.outcome]
    random.Random(seed).shuffle(candidates)
    chosen = []
    for m in candidates:  # in random order, until the sample is full; a no-op mutation is not a mutant
        if sample and len(chosen) >= sample:
            break
        if m.diff or materialize(m, source):
            chosen.append(m)
    chosen.sort(key=lambda m: (m.line, m.operator))
    print(f"{module}: {total} mutants, {len(set_aside)} equivalent set aside, testing {len(chosen)} "
          f"(seed {seed}) with: pytest {' '.join(tests)}", flush=True)

    work = make_copy(root)
    repo = work / "repo"
    try:
        runner = Runner(repo, tests, fork)
        log = work / "pytest.log"
        b0 = time.monotonic()
        if runner.run(600, log) != "passed":
            sys.exit(f"the unmutated tests do not pass; fix them first:\n{log.read_text()[-3000:]}")
        base = time.monotonic() - b0
        timeout = max(10.0, 10 * base)
        target = repo / module
        original = target.read_text(encoding="utf-8")
        for i, m in enumerate(chosen, 1):
            target.write_text(m._mutated, encoding="utf-8")  # type: ignore[attr-defined]
            s0 = time.monotonic()
            try:
                result = runner.run(timeout, log)
            finally:
                target.write_text(original, encoding="utf-8")
            m.seconds = time.monotonic() - s0
            m.outcome = {"passed": "survived", "failed": "killed", "timeout": "timeout"}[result]
            if verbose:
                print(f"  [{i}/{len(chosen)}] {m.outcome:8} {m.module}:{m.line} {m.operator}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    survived = [m for m in chosen if m.outcome == "survived"]
    killed = len(chosen) - len(survived)
    score = killed / len(chosen) if chosen else 1.0
    for m in survived:
        print(f"\nSURVIVED {m.module}:{m.line} {m.operator}\n{m.diff}")
    if set_aside and verbose:
        print(f"\nset aside as equivalent ({len(set_aside)}):")
        for m in set_aside:
            print(f"  {m.module}:{m.line} {m.operator}: {' / '.join(m.added)}  -- {m.why}")
    elapsed = time.monotonic() - t0
    print(f"\n{module}: score {score:.0%} ({killed} killed of {len(chosen)}; {len(survived)} survived; "
          f"{len(set_aside)} equivalent set aside of {total}); baseline tests {base:.1f} s, total {elapsed:.0f} s",
          flush=True)
    return {"module": module, "tests": tests, "mutants": total, "tested": len(chosen), "killed": killed,
            "survived": len(survived), "equivalent": len(set_aside), "score": round(score, 4),
            "seconds": round(elapsed, 1),
            "survivors": [{k: v for k, v in asdict(m).items() if k != "_mutated"} for m in survived]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=f"Needs cosmic-ray: pip install cosmic-ray=={CR_VERSION}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help=f"a named module ({', '.join(PRESETS)}) or 'all'")
    p.add_argument("--module", help="path of the module to mutate, relative to --root")
    p.add_argument("--tests", help="pytest selection (files, node ids, -k EXPR), as one string")
    p.add_argument("--sample", type=int, default=80, help="test at most N mutants, drawn at random (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only-def", help="mutate only inside the function or class of this name")
    p.add_argument("--root", type=Path, default=REPO, help="checkout to copy and test (default: this one)")
    p.add_argument("--equivalents", type=Path, default=EQUIVALENTS, help="TOML list of equivalent mutants")
    p.add_argument("--no-fork", action="store_true", help="run each mutant's tests in a fresh python process")
    p.add_argument("--min-score", type=float, default=0.0, help="exit 1 when a score is below this (0..1)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--list", action="store_true", help="print the named modules and their tests")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per mutant")
    a = p.parse_args(argv)
    if a.list:
        for name, (module, tests) in PRESETS.items():
            print(f"{name:16} {module}\n{'':16} tests: {tests}")
        return 0
    _need_cosmic_ray()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `kill` still removes the scratch copy
    root = a.root.resolve()
    if a.module:
        jobs = [(a.module, a.tests or "tests/unit")]
    elif a.name == "all":
        jobs = [PRESETS[n] for n in PRESETS]
    elif a.name in PRESETS:
        module, tests = PRESETS[a.name]
        jobs = [(module, a.tests or tests)]
    else:
        p.error(f"name one of {', '.join(PRESETS)}, 'all', or give --module PATH --tests SELECTION")
    equivalents = load_equivalents(a.equivalents)
    results = [run_module(root, module, tests, a.sample, a.seed, not a.no_fork, equivalents, a.only_def,
                          verbose=not a.quiet) for module, tests in jobs]
    if len(results) > 1:
        print("\nmodule                                          score  killed/tested  equivalent  seconds")
        for r in results:
            print(f"{r['module']:46} {r['score']:6.0%}  {r['killed']:6}/{r['tested']:<6}  {r['equivalent']:10}  "
                  f"{r['seconds']:7.0f}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 1 if any(r["score"] < a.min_score for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
