"""Sphinx extension for the book's site: what a reader's browser loads, what a screen reader hears.

* MathJax (about 1.2 MB with its fonts) only on pages with an equation of their own:
  Jupyter Book asks Sphinx to put every asset on every page.
* The sidebar's expand/collapse toggles (``<summary>`` elements holding only an icon) get
  a visually hidden text naming the section they open, so that a screen reader announces
  something (axe-core's rule ``summary-name``).
* The bibliography's entries are list items of its list: docutils marks them with the
  DPUB role ``doc-biblioentry``, which axe-core does not count as an item of the
  ``role="list"`` around them (rule ``aria-required-children``).

(The theme's Font Awesome script, 1.5 MB on every page, is left out by the book's
``book/_templates/layout.html``: it comes from a template macro, not from Sphinx's list of
scripts, and the theme's stylesheet draws the same icons with Font Awesome's web font.)

Add ``gabalab.site`` to the Sphinx extensions (the book's ``_config.yml`` does). The built
site is checked by ``tests/browser/test_static_site.py`` and
``tests/browser/test_accessibility.py``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["mathjax_only_with_math", "name_toggles", "named_sidebar_toggles",
           "bibliography_as_list", "setup"]


def mathjax_only_with_math(app: Any, pagename: str, templatename: str,
                           context: dict[str, Any], doctree: Any) -> None:
    """Drop MathJax from a page without an equation of its own."""
    if app.builder.format != "html":
        return
    # The page's own equations: the domain's has_equations() also counts every page
    # below a table of contents.
    if app.env.get_domain("math").data["has_equations"].get(pagename, False):
        return
    path = getattr(app.config, "mathjax_path", None)
    scripts = context.get("script_files")
    if path and scripts is not None:
        # Sphinx's _JavaScript objects name their file in ``filename``; a local MathJax
        # is registered under the static folder (``_static/<mathjax_path>``).
        def is_mathjax(js: Any) -> bool:
            name = str(getattr(js, "filename", js))
            return name == path or name.endswith("/" + path)

        scripts[:] = [js for js in scripts if not is_mathjax(js)]


def name_toggles(html: str) -> str:
    """Give each icon-only ``<summary>`` of a navigation tree a hidden text naming its section.

    >>> html = name_toggles('<li><a href="a.html">Chapter 12</a>'
    ...                     '<details><summary><i></i></summary>'
    ...                     '</details></li>')
    >>> html.split("<summary>")[1].split("<i>")[0]
    '<span class="visually-hidden">Sections of Chapter 12</span>'
    """
    from bs4 import BeautifulSoup  # comes with the book's theme

    if not isinstance(html, str):
        raise TypeError(f"html must be a str, got {type(html).__name__}")
    soup = BeautifulSoup(html, "html.parser")
    for summary in soup.find_all("summary"):
        if summary.get_text(strip=True):
            continue
        item = summary.find_parent("li")
        link = item.find("a", recursive=False) if item is not None else None
        label = link.get_text(" ", strip=True) if link is not None else "this part"
        hidden = soup.new_tag("span", attrs={"class": "visually-hidden"})
        hidden.string = f"Sections of {label}"
        summary.insert(0, hidden)
    return str(soup)


def named_sidebar_toggles(app: Any, pagename: str, templatename: str,
                          context: dict[str, Any], doctree: Any) -> None:
    """Wrap the theme's navigation-tree builder so that its toggles have names."""
    build = context.get("generate_toctree_html")
    if build is None:
        return

    @cache
    def generate_toctree_html(kind: str, *args: Any, **kwargs: Any) -> Any:
        out = build(kind, *args, **kwargs)
        # The sidebar's tree comes back as HTML (a string, or a parsed tree that the page
        # template prints as HTML); the "raw" kind is for other code and stays as it is.
        return name_toggles(str(out)) if kind == "sidebar" else out

    context["generate_toctree_html"] = generate_toctree_html


def bibliography_as_list(app: Any, pagename: str, templatename: str,
                         context: dict[str, Any], doctree: Any) -> None:
    """Mark the entries of a citation list as its list items."""
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app: Any) -> dict[str, Any]:
    """Register the hooks, after Sphinx's and the theme's own page-context handlers."""
    app.connect("html-page-context", mathjax_only_with_math, priority=900)
    app.connect("html-page-context", named_sidebar_toggles, priority=900)
    app.connect("html-page-context", bibliography_as_list, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
