"""The design documents and the README point at things that exist: every relative link resolves (heading
included), every repository file they name is in the tree, and every module (or module attribute) they name
imports. Modules get renamed; this is what keeps the documents from quietly pointing at the old names."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PACKAGES = (
    "videojobs", "videojobs_cli", "job_service", "provider_service", "storage_service", "gateway", "bench",
)  # fmt: skip
# A path is checked when it names a file by its folder and extension; a bare name (`server.py` in "each
# service has a server.py"), bucket keys (`videos/....mp4`) and folders (`deploy/`) are not paths.
FILE_EXTENSIONS = (".py", ".md", ".proto", ".toml", ".yml", ".yaml", ".html", ".mako")

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`\s]+)`")
_MODULE = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?::[A-Za-z_][A-Za-z0-9_]*)?$")


def _cited(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return [
        (document.relative_to(ROOT).as_posix(), match)
        for document in DOCUMENTS
        for match in pattern.findall(document.read_text())
    ]


def _ids(cited: list[tuple[str, str]]) -> list[str]:
    return [f"{document}:{target}" for document, target in cited]


LINKS = [(doc, target) for doc, target in _cited(_LINK) if "://" not in target and not target.startswith("#")]
CODE = _cited(_CODE)
FILES = [
    (doc, code) for doc, code in CODE if "/" in code and code.endswith(FILE_EXTENSIONS) and "{" not in code
]
MODULES = [(doc, code) for doc, code in CODE if _MODULE.match(code)]


def test_the_docs_cite_links_files_and_modules_at_all() -> None:
    # Guards the patterns below: if they stopped matching, the other tests would pass on nothing.
    assert len(LINKS) > 10
    assert len(FILES) > 10
    assert MODULES


def _anchors(markdown: Path) -> set[str]:
    """Heading anchors as GitHub makes them: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+ (.+)$", markdown.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize(("document", "target"), LINKS, ids=_ids(LINKS))
def test_every_relative_link_resolves(document: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    linked = (ROOT / document).parent.joinpath(path)
    assert linked.exists(), f"{document} links to {target}, which does not exist"
    if anchor:
        assert anchor in _anchors(linked), f"{document} links to {target}, a heading {path} does not have"


@pytest.mark.parametrize(("document", "path"), FILES, ids=_ids(FILES))
def test_every_repository_file_cited_exists(document: str, path: str) -> None:
    assert (ROOT / path).is_file(), f"{document} names {path}, which is not a file of the repository"


@pytest.mark.parametrize(("document", "name"), MODULES, ids=_ids(MODULES))
def test_every_module_cited_imports(document: str, name: str) -> None:
    dotted = name.replace(":", ".")
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            assert hasattr(target, attribute), f"{document} names {name}, which has no {attribute}"
            target = getattr(target, attribute)
        return
    pytest.fail(f"{document} names {name}, which does not import")


SERVICE_SCHEME = {"domain", "convert", "servicer", "server", "settings"}


def _layout_rows() -> dict[str, str]:
    """The README's layout table: folder -> what its row says."""
    rows = re.findall(r"^\| `([^`]+)/` \| (.+) \|$", (ROOT / "README.md").read_text(), flags=re.MULTILINE)
    return dict(rows)


def _top_level_folders() -> list[str]:
    tracked = {path.split("/")[0] for path in _tracked_files() if "/" in path}
    return sorted(folder for folder in tracked if not folder.startswith("."))


def _tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return listing.stdout.splitlines()


def test_the_readme_names_the_roles_every_service_shares() -> None:
    scheme_paragraph = (ROOT / "README.md").read_text().split("Every service names the same roles")[1][:600]
    assert all(f"`{module}.py`" in scheme_paragraph for module in SERVICE_SCHEME)


def test_the_layout_table_names_every_top_level_folder() -> None:
    rows = _layout_rows()
    named = {folder.split("/")[0] for folder in rows}
    assert set(_top_level_folders()) <= named, "README's layout table misses a folder"


@pytest.mark.parametrize(
    "package", ["videojobs", "videojobs_cli", "job_service", "provider_service", "storage_service", "gateway"]
)
def test_the_layout_table_names_every_module_of_a_service(package: str) -> None:
    row = _layout_rows()[package]
    modules = sorted(
        path.stem if path.is_file() else f"{path.name}/"
        for path in (ROOT / package).iterdir()
        if (path.suffix == ".py" and path.stem not in {"__init__", "__main__"})
        or (path.is_dir() and (path / "__init__.py").exists() and path.name != "v1")
    )
    # The roles every service shares are named once, under the table, not in each row.
    scheme = SERVICE_SCHEME if package.endswith(("_service", "gateway")) else set()
    unnamed = [
        module
        for module in modules
        if module not in scheme and f"`{module}`" not in row and f"`{module}.py`" not in row
    ]
    assert not unnamed, f"README's `{package}/` row does not name: {unnamed}"
