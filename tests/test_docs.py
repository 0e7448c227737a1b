"""The documentation keeps up with the code: every config key is documented, every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO

from gnntool.config import known_keys

DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS]


def test_every_config_key_is_documented_in_docs() -> None:
    keys = known_keys()
    leaves = [key for key in keys if not any(other.startswith(key + ".") for other in keys)]
    text = "\n".join(page.read_text(encoding="utf-8") for page in DOCS)
    missing = [key for key in leaves if f"`{key}`" not in text]
    assert not missing, f"config keys not documented in docs/*.md (as `key`): {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).exists(), f"{page.name}: broken link to {target}"


def test_the_readme_links_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert [page.name for page in DOCS if f"(docs/{page.name})" not in readme] == []


def test_the_development_map_names_real_paths_and_every_module() -> None:
    """docs/development.md is the map of the package: each path it names exists, and each module
    of the package is named (by its path, or by its folder's path)."""
    text = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:gnntool|tests|configs|data|bench|examples|docs)/[\w./-]*)`", text))
    assert [path for path in sorted(named) if not (REPO / path).exists()] == []
    modules = [path.relative_to(REPO) for path in (REPO / "gnntool").rglob("*.py")]
    unnamed = [
        str(module) for module in modules
        if str(module) not in named and f"{module.parent}/" not in named and module.name != "__init__.py"
    ]
    assert unnamed == []
