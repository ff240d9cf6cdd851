"""The import-linter contracts in pyproject.toml hold for the tree, and break when a layer is crossed.

`make lint` runs the same contracts on the real tree; these tests prove they can fail, by running
lint-imports on a copy of the packages with one forbidden import added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("videojobs", "videojobs_cli", "job_service", "provider_service", "storage_service", "gateway")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy must shadow the installed (editable) packages, so it goes first on the path.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_both_contracts(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def broken_contracts(report: str) -> dict[str, str]:
    """The "Broken contracts" part of a lint-imports report, as contract name -> its section's text."""
    lines = report.split("Broken contracts", 1)[1].splitlines()[2:]
    sections: dict[str, str] = {}
    name = ""
    for line, underline in zip(lines, [*lines[1:], ""], strict=True):
        if line and underline == "-" * len(line):
            name = line
            sections[name] = ""
        elif name:
            sections[name] += line + "\n"
    return sections


LAYERS = "The CLI above the services above the shared core"
INDEPENDENCE = "No service imports another"

# Each forbidden import and the contracts it must break (one lint run for all: building the graph is slow).
FORBIDDEN = {
    "job_service._probe": ("storage_service.settings", {LAYERS, INDEPENDENCE}),
    "gateway._probe": ("job_service.domain", {LAYERS, INDEPENDENCE}),
    "videojobs._probe": ("provider_service.settings", {LAYERS}),
    # The CLI imports every service, so this also makes storage_service import the others.
    "storage_service._probe": ("videojobs_cli.cli", {LAYERS, INDEPENDENCE}),
}


def test_every_forbidden_import_breaks_its_contract(tree: Path) -> None:
    for module, (target, _) in FORBIDDEN.items():
        path = tree / (module.replace(".", "/") + ".py")
        path.write_text(f'"""A forbidden import."""\n\nimport {target}\n')
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 2 broken" in result.stdout
    sections = broken_contracts(result.stdout)
    assert set(sections) == {LAYERS, INDEPENDENCE}
    for module, (target, contracts) in FORBIDDEN.items():
        chain = f"- {module} -> {target} (l.3)"
        assert {name for name, text in sections.items() if chain in text} == contracts, result.stdout
