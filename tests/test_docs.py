"""The design documents and the README point at things that exist: every relative link resolves (heading
included), every repository file they name is in the tree, and every module (or module attribute) they name
imports. Modules get renamed; this is what keeps the documents from quietly pointing at the old names."""

from __future__ import annotations

import importlib
import re
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
