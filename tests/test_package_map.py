"""The front door tells the truth: every public module is named where a newcomer looks.

A public module is any module or subpackage of ``gabalab`` whose dotted name has no part
starting with an underscore. Each must be named in the package docstring, in the README's
package map and on the API reference page; adding a module without documenting it fails.
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import pytest

import gabalab

ROOT = Path(__file__).resolve().parents[1]


def public_modules() -> list[str]:
    """Dotted names, relative to ``gabalab``, of every public module and subpackage."""
    names = []
    for info in pkgutil.walk_packages(gabalab.__path__, prefix="gabalab."):
        name = info.name.removeprefix("gabalab.")
        if not any(part.startswith("_") for part in name.split(".")):
            names.append(name)
    return sorted(names)


MODULES = public_modules()


def test_the_package_has_its_modules() -> None:
    assert {"gaba", "norms", "data", "data.cmapss", "plots.style"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_named_in_the_package_docstring(name: str) -> None:
    doc = gabalab.__doc__ or ""
    assert re.search(rf"(^|[\s`]){re.escape(name)}([\s`]|$)", doc, re.M), (
        f"gabalab.{name} is missing from the docstring of gabalab/__init__.py"
    )


@pytest.mark.parametrize("name", MODULES)
def test_named_in_the_readme_map(name: str) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## The package", 1)[1].split("\n## ", 1)[0]
    assert f"`gabalab.{name}`" in section, f"gabalab.{name} is missing from the README's map"


@pytest.mark.parametrize("name", MODULES)
def test_on_the_api_page(name: str) -> None:
    pages = sorted((ROOT / "book" / "api").glob("*.md"))
    assert pages, "book/api/ has no reference pages"
    found = [p.name for p in pages if re.search(
        rf"^\.\. automodule:: gabalab\.{re.escape(name)}$", p.read_text("utf-8"), re.M)]
    assert len(found) == 1, f"gabalab.{name} needs one automodule entry in book/api/*.md: {found}"
    index = (ROOT / "book" / "api.md").read_text("utf-8")
    assert f"`gabalab.{name}`" in index or "." in name, (
        f"gabalab.{name} is missing from the index of book/api.md")


def test_version_is_written_once() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert re.search(r'^version\s*=\s*"', pyproject, re.M) is None
    assert re.fullmatch(r"\d+\.\d+\.\d+", gabalab.__version__)
