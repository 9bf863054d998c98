"""Dependencies between this repository's four packages run one way.

    grpo_api  <-  grpo_operator  <-  grpo_cli
              <-  trainer_entry  <-

The contract (grpo_api) imports none of the others; the operator and the trainer import only the contract (the
operator image ships no trainer code and the trainer image no operator code); the CLI may use all three, and
nothing imports the CLI. Checked on the source with `ast` (imports at any depth, including function-local ones
and `importlib.import_module("...")` calls with a literal name), plus the packaging that follows from it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# package -> (source folder, pyproject folder, distribution name)
PACKAGES = {
    "grpo_api": (REPO / "api" / "grpo_api", REPO / "api", "grpo-api"),
    "grpo_operator": (REPO / "operator" / "grpo_operator", REPO / "operator", "grpo-operator"),
    "trainer_entry": (REPO / "trainer_entry", REPO / "trainer_entry", "grpo-trainer"),
    "grpo_cli": (REPO / "cli" / "grpo_cli", REPO / "cli", "grpo-cli"),
}
ALLOWED = {
    "grpo_api": set(),
    "grpo_operator": {"grpo_api"},
    "trainer_entry": {"grpo_api"},
    "grpo_cli": {"grpo_api", "grpo_operator", "trainer_entry"},
}


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of every module `source` imports (relative imports resolved against `module`)."""
    found = set()
    parts = module.split(".")
    package = parts if is_package else parts[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level > len(package):
                    found.add("<relative import above the top-level package>")
                    continue
                base = package[: len(package) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            else:
                found.add(node.module or "")
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def violations(packages: dict[str, Path], allowed: dict[str, set[str]]) -> list[str]:
    """'file: imports X' for each import of a sibling package that the layering does not allow."""
    out = []
    for name, root in packages.items():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            module = ".".join([name, *rel.with_suffix("").parts])
            is_package = path.name == "__init__.py"
            if is_package:
                module = module.rsplit(".", 1)[0]
            for imported in sorted(imported_modules(path.read_text(), module, is_package)):
                top = imported.split(".")[0]
                if imported.startswith("<") or (top in packages and top != name and top not in allowed[name]):
                    out.append(f"{path}: {name} imports {imported}")
    return out


def test_imports_run_one_way():
    assert violations({k: v[0] for k, v in PACKAGES.items()}, ALLOWED) == []


def test_the_check_fails_on_a_wrong_way_import(tmp_path):
    """The same walk over a small tree with an import against the layering (a lazy one, inside a function)."""
    api, cli = tmp_path / "grpo_api", tmp_path / "grpo_cli"
    for folder in (api, cli, api / "sub"):
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    (api / "sub" / "mod.py").write_text("def f():\n    from grpo_cli import main\n    from ..x import y\n")
    (api / "lazy.py").write_text("import importlib\nimportlib.import_module('grpo_cli.train')\n")
    (cli / "ok.py").write_text("from grpo_api.sub import mod\n")
    found = violations({"grpo_api": api, "grpo_cli": cli}, {"grpo_api": set(), "grpo_cli": {"grpo_api"}})
    assert [line.split(": ", 1)[1] for line in found] == [
        "grpo_api imports grpo_cli.train", "grpo_api imports grpo_cli"]


def test_relative_imports_resolve_against_their_package():
    assert imported_modules("from ..api import x\nfrom . import y\n", "pkg.sub.mod", False) == {"pkg.api", "pkg.sub"}
    assert imported_modules("from .z import x\n", "pkg.sub", True) == {"pkg.sub.z"}
    assert imported_modules("from ... import x\n", "pkg.mod", False) == {"<relative import above the top-level package>"}


@pytest.mark.parametrize("name", PACKAGES)
def test_each_distribution_declares_exactly_the_packages_it_may_use(name):
    _, project_dir, dist = PACKAGES[name]
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    assert project["name"] == dist
    declared = {re.split(r"[=<>\[ ;]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    local = {PACKAGES[other][2] for other in PACKAGES}
    assert declared & local == {PACKAGES[other][2] for other in ALLOWED[name]}


def test_trainer_distribution_lists_every_subpackage():
    """grpo-trainer maps its packages explicitly (its files sit beside its pyproject): none may be left out."""
    settings = tomllib.loads((REPO / "trainer_entry" / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(("trainer_entry", *p.parent.relative_to(REPO / "trainer_entry").parts))
               for p in (REPO / "trainer_entry").rglob("__init__.py")}
    assert set(settings["packages"]) == on_disk


@pytest.mark.parametrize(("dockerfile", "ships"), [
    ("images/operator/Dockerfile", {"api", "operator"}),
    ("images/trainer/Dockerfile", {"api", "trainer_entry"}),
])
def test_each_image_installs_only_what_it_runs(dockerfile, ships):
    text = (REPO / dockerfile).read_text()
    copied = {m.group(1) for m in re.finditer(r"^COPY\s+(\S+?)/?\s+\S+$", text, re.M)} - {"images/operator/requirements.txt",
                                                                                       "images/trainer/requirements.txt"}
    assert copied == ships
    installed = re.search(r"pip install --no-deps ((?:\./\S+\s*)+)", text).group(1).split()
    assert {p.strip("./") for p in installed} == ships
