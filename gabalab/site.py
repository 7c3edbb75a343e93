"""Sphinx extension for the book's site: what a reader's browser loads, what a screen reader hears.

* MathJax (about 1.2 MB with its fonts) only on pages with an equation of their own:
  Jupyter Book asks Sphinx to put every asset on every page.
* The sidebar's expand/collapse toggles (``<summary>`` elements holding only an icon) get
  a visually hidden text naming the section they open, so that a screen reader announces
  something (axe-core's rule ``summary-name``).

Add ``gabalab.site`` to the Sphinx extensions (the book's ``_config.yml`` does). The built
site is checked by ``tests/browser/test_static_site.py`` and
``tests/browser/test_accessibility.py``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["mathjax_only_with_math", "name_toggles", "named_sidebar_toggles", "setup"]


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
        scripts[:] = [js for js in scripts if str(js) != path]


def name_toggles(html: str) -> str:
    """Give each icon-only ``<summary>`` of a navigation tree a hidden text naming its section.

    >>> name_toggles('<li><a href="a.html">Chapter 12</a><details><summary>'
    ...              '<span class="toctree-toggle"></span></summary></details></li>')
    '<li><a href="a.html">Chapter 12</a><details><summary><span class="visually-hidden">\
Sections of Chapter 12</span><span class="toctree-toggle"></span></summary></details></li>'
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
        return name_toggles(out) if isinstance(out, str) else out

    context["generate_toctree_html"] = generate_toctree_html


def setup(app: Any) -> dict[str, Any]:
    """Register the hooks (after the theme's and Sphinx's own page-context handlers)."""
    app.connect("html-page-context", mathjax_only_with_math, priority=900)
    app.connect("html-page-context", named_sidebar_toggles, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
