"""Numbers in a notebook's prose that read the same on the book's site and in JupyterLab.

A section's text quotes each result through an inline role, ``{eval}`key```. The value
comes from one call in a code cell, :func:`glue`, which does two things:

* it stores the value as a myst-nb glue output named ``key``, so the notebook that the tests
  check carries it; on the site, the Sphinx extension in this module (``gabalab.prose`` in the
  book's extensions) renders ``{eval}`key``` from that stored output, exactly as
  ``{glue:text}`` would, so the page shows what the tests checked;
* it binds ``key`` to the value in the running kernel, so in JupyterLab the ``jupyterlab-myst``
  extension evaluates ``{eval}`key``` live and the reader sees the same number.

(myst-nb's own ``{eval}`` needs the book to execute the notebooks while building, and
``jupyterlab-myst`` does not render glue roles, so neither alone shows the numbers in both
places.)
"""

from __future__ import annotations

import builtins
import keyword
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["GLUE_TYPES", "glue", "glue_all", "setup"]

#: Names IPython binds in every kernel (besides the ``_``-prefixed output history).
_IPYTHON_NAMES: frozenset[str] = frozenset({"In", "Out", "get_ipython", "exit", "quit"})

#: Types a value to glue may have (plain Python scalars and text, never NumPy scalars, so
#: that the stored text is the value's Python repr).
GLUE_TYPES: tuple[type, ...] = (str, int, float)


def _kernel_namespace() -> dict[str, Any] | None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    shell = get_ipython()
    return None if shell is None else shell.user_ns


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` for ``{eval}`name``` in the book and bind it in the kernel for Lab.

    Parameters
    ----------
    name : str
        A Python identifier (``{eval}`` evaluates it as an expression in the kernel, where
        it becomes a variable): not a keyword (``class``, ``None``), not the name of a
        builtin (``print``, ``len``) or of IPython's own variables (``In``, ``Out``,
        ``get_ipython``, ``exit``, ``quit``, and ``_``-prefixed names such as the output
        history ``_``, ``_1``), which binding it would shadow for the rest of the notebook.
    value : str, int, float, or an object with a ``text/markdown`` representation
        What the prose shows: text and plain Python numbers as they print (strings without
        quotes); a :class:`IPython.display.Markdown` object as inline Markdown.
    display : bool, default False
        Also show the value as the cell's output.

    Raises
    ------
    TypeError
        If ``name`` is not a string, ``value`` is a bool, a NumPy scalar or another type, or
        ``display`` is not True or False.
    ValueError
        If ``name`` is not a Python identifier or is one of the names above, or ``value`` is
        a float that is not finite (a NaN or inf in the prose is a result gone wrong).

    Examples
    --------
    A NumPy scalar would print differently in the two places, so it is refused:

    >>> import numpy as np
    >>> glue("s12_2_B", np.int64(32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: glue('s12_2_B'): ... (not bool or a NumPy scalar) ...
    """
    _check_glue(name, value)
    if not isinstance(display, bool):  # a truthy "no" would show the value
        raise TypeError(f"display must be True or False, got {type(display).__name__}")
    from myst_nb import glue as myst_glue  # type: ignore[import-untyped]

    myst_glue(name, value, display=display)
    namespace = _kernel_namespace()
    if namespace is not None:
        namespace[name] = value


def glue_all(values: Mapping[str, Any], *, prefix: str = "") -> None:
    """Glue every entry of ``values`` as ``prefix + key`` (nothing shown), or none of them.

    A section quotes many numbers of one result; the package function that computes them
    returns them as a mapping (for example a record's ``quotes()``), and one call puts
    them all in the prose. Every name and value is checked first, as :func:`glue` checks
    them, so a bad entry glues nothing.

    Parameters
    ----------
    values : Mapping[str, Any]
        Names (after ``prefix``) and values, each as :func:`glue` accepts them.
    prefix : str, default ""
        Put before every name, usually the section (``"s12_2_"``).

    Raises
    ------
    TypeError, ValueError
        If ``values`` is not a mapping, ``prefix`` not a string, or any entry is one that
        :func:`glue` refuses (the message names it).

    Examples
    --------
    >>> glue_all({"B": 32, "ratio": "3.5"}, prefix="s0_")
    >>> glue_all({"B": 1.5, "a b": 2}, prefix="s0_")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: values['a b'] after prefix 's0_': name must be ...
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a mapping of names to values, got "
                        f"{type(values).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"values: keys must be strings, got {key!r}")
        try:
            _check_glue(prefix + key, value)
        except (TypeError, ValueError) as error:
            where = f"values[{key!r}]" + (f" after prefix {prefix!r}" if prefix else "")
            raise type(error)(f"{where}: {error}") from None
    for key, value in values.items():
        glue(prefix + key, value)


def _check_glue(name: Any, value: Any) -> None:
    """Raise the error :func:`glue` gives for ``name`` and ``value``, if any."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    if keyword.iskeyword(name):
        raise ValueError(f"name {name!r} is a Python keyword: {{eval}} could not read it "
                         "as a variable")
    if name.startswith("_") or name in _IPYTHON_NAMES or hasattr(builtins, name):
        raise ValueError(f"name {name!r} would shadow a builtin or one of IPython's own "
                         "variables in the kernel; choose another (e.g. prefixed by the "
                         "section, 's18_2_...')")
    markdown = hasattr(value, "_repr_markdown_")
    if isinstance(value, bool) or not (type(value) in GLUE_TYPES or markdown):
        raise TypeError(
            f"glue({name!r}): value must be a str, int or float (not bool or a NumPy "
            f"scalar) or a Markdown object, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glue({name!r}): value must be a finite number, got {value}")


def _stored_eval_role() -> Any:
    """myst-nb's ``{glue:text}`` role, extended to Markdown values (``{glue:md}``)."""
    from myst_nb.core.variables import RetrievalError  # type: ignore[import-untyped]
    from myst_nb.ext.glue.roles import (  # type: ignore[import-untyped]
        PasteMarkdownRole,
        PasteTextRole,
    )
    from myst_nb.ext.glue.utils import retrieve_glue_data  # type: ignore[import-untyped]

    class StoredEvalRole(PasteTextRole):  # type: ignore[misc]
        """``{eval}`key```: the stored glue output ``key`` (Markdown if it has some)."""

        def run(self) -> tuple[list[Any], list[Any]]:
            try:
                data = retrieve_glue_data(self.document, self.text).data
            except RetrievalError:
                data = {}
            if "text/markdown" in data:
                return PasteMarkdownRole.run(self)
            return super().run()

    return StoredEvalRole()


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension: ``{eval}`key``` renders the notebook's stored glue output ``key``.

    List it after ``myst_nb`` in the extensions; it replaces myst-nb's ``eval`` role, which
    would need a kernel at build time.
    """
    app.setup_extension("myst_nb")
    app.add_role("eval", _stored_eval_role(), override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
