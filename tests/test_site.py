"""The site's Sphinx hooks (gabalab.site), on their own; the built site is checked in the
browser by tests/browser/test_static_site.py and test_accessibility.py."""

from __future__ import annotations

import doctest
from types import SimpleNamespace

from bs4 import BeautifulSoup

from gabalab import site as fixes

SIDEBAR = """<ul class="nav bd-sidenav">
<li class="toctree-l1 has-children"><a class="reference internal" href="chapter12/index.html">
Chapter 12: the gradient imbalance</a><details><summary><span class="toctree-toggle"
role="presentation"><i class="fa-solid fa-chevron-down"></i></span></summary><ul>
<li class="toctree-l2"><a href="chapter12/imbalance_intro.html">12.1</a></li></ul></details></li>
<li class="toctree-l1 has-children"><details><summary><p class="caption">Parts</p>
<span class="toctree-toggle"></span></summary><ul></ul></details></li>
</ul>"""


def test_every_icon_only_toggle_is_named_after_its_section() -> None:
    soup = BeautifulSoup(fixes.name_toggles(SIDEBAR), "html.parser")
    summaries = soup.find_all("summary")
    assert [s.get_text(" ", strip=True) for s in summaries] == [
        "Sections of Chapter 12: the gradient imbalance", "Parts"]
    assert summaries[0].find("span", class_="visually-hidden") is not None
    assert summaries[1].find("span", class_="visually-hidden") is None  # had text already
    assert soup.find("a", href="chapter12/imbalance_intro.html") is not None


def test_the_toctree_builder_is_wrapped_for_the_sidebar_only() -> None:
    # The theme returns the sidebar as a parsed tree, and takes ``kind`` by keyword.
    context = {"generate_toctree_html": lambda kind, **k: BeautifulSoup(SIDEBAR, "html.parser")
               if kind == "sidebar" else {"raw": True}}
    fixes.named_sidebar_toggles(None, "p", "page.html", context, None)
    html = context["generate_toctree_html"](kind="sidebar", startdepth=0)
    assert isinstance(html, str) and "Sections of Chapter 12" in html
    assert context["generate_toctree_html"](kind="raw") == {"raw": True}


def _app(has_math: bool) -> SimpleNamespace:
    domain = SimpleNamespace(data={"has_equations": {"page": has_math}})
    env = SimpleNamespace(get_domain=lambda name: domain)
    return SimpleNamespace(builder=SimpleNamespace(format="html"), env=env,
                           config=SimpleNamespace(mathjax_path="mathjax/tex-mml-chtml.js"))


def test_mathjax_is_dropped_only_from_pages_without_math() -> None:
    for has_math, expected in ((True, ["a.js", "_static/mathjax/tex-mml-chtml.js"]),
                               (False, ["a.js"])):
        scripts = [SimpleNamespace(filename=name)
                   for name in ("a.js", "_static/mathjax/tex-mml-chtml.js")]
        context = {"script_files": scripts}
        fixes.mathjax_only_with_math(_app(has_math), "page", "page.html", context, None)
        assert [js.filename for js in context["script_files"]] == expected


def test_the_examples_in_the_docstrings_run() -> None:
    assert doctest.testmod(fixes).failed == 0


def test_bibliography_entries_become_the_items_of_their_list() -> None:
    body = ('<div role="list" class="citation-list"><div class="citation" id="a" '
            'role="doc-biblioentry">A</div></div>')
    context = {"body": body}
    fixes.bibliography_as_list(None, "book/bibliography", "page.html", context, None)
    assert context["body"] == body.replace("doc-biblioentry", "listitem")
