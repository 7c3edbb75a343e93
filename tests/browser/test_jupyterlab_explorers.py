"""The explorers, live in JupyterLab, used the way the README tells a reader to.

JupyterLab is started from the project's environment on 127.0.0.1 (with a random token)
in a temporary copy of the book's folders. In headless Chromium the test opens the file
browser, goes into the chapter folder, double-clicks the section's ``.md`` file (the
environment makes the Jupytext notebook its default viewer, and hides the executed
``.ipynb`` copy), runs *Run > Run All Cells*, and drives the section's Vega explorer as the
static-site test does (``explorer_cases``): its controls moved with keys and the mouse,
its numbers checked against the Python twin, no request off 127.0.0.1. The explorer draws
from the Vega builds that the kernel sent inline with its first chart.

Every explorer is also driven in one generated notebook (``GALLERY_NOTEBOOK``) that builds
all of them from the data their sections embed, so one Run All covers the five; two
sections (``LAB_NOTEBOOKS``) run in full, and their prose must show every number it quotes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jupytext
import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the tests are then skipped, with the reason, by conftest.py
    PlaywrightTimeout = TimeoutError

from browser_support import LOCAL_HOSTS, ROOT, expected_glue, free_port
from explorer_cases import (
    CASES,
    SELECTION_NOTEBOOK,
    Case,
    drive,
    embedded_values,
    stored_spec,
)

JUPYTER = Path(sys.executable).with_name("jupyter")
#: Folders copied into the temporary JupyterLab root (what a reader's checkout has).
COPIED = ["book", "chapter*", "results"]
#: Settings a reader could pick; the test picks them so that it sees every cell and no
#: notification covers the notebook: render all cells (no windowing), ask for no news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
RUN_ALL_TIMEOUT_S = 600
#: Section notebooks the tests run in JupyterLab (each Run All takes a while).
LAB_NOTEBOOKS = ["chapter12/derivative_bound.md", "chapter18/per_step_gradient_norm.md"]


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Any]]:
    """JupyterLab on 127.0.0.1 in a temporary copy of the book; yields url, token, root."""
    root = Path(tempfile.mkdtemp(prefix="gabalab-lab-"))
    for pattern in COPIED:
        for src in ROOT.glob(pattern):
            if src.is_dir():
                shutil.copytree(
                    src, root / src.name,
                    ignore=shutil.ignore_patterns("_static", ".ipynb_checkpoints", "__pycache__"),
                )
    state = root / ".lab-state"
    settings = state / "settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = dict(os.environ)
    # A reader's kernel draws figures inline; the test scripts set a file-only backend.
    env.pop("MPLBACKEND", None)
    env.update(
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
    )
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        # Nothing of JupyterLab's own reaches out: no news, no update check, no extension
        # catalogue.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root
    log_path = state / "lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield {"url": url, "token": token, "root": root, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


#: The visible notebook's code cells: how many have a prompt, how many have run ([n]), and
#: which (by index among code cells) show a Python traceback.
CELL_STATE_JS = """
() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
    .find(p => p.offsetParent !== null);
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-CodeCell')];
  const prompts = cells.map(c => c.querySelector('.jp-InputPrompt'));
  const tracebacks = [];
  cells.forEach((c, i) => {
    for (const out of c.querySelectorAll('.jp-OutputArea-output')) {
      if (out.textContent.includes('Traceback (most recent call last)')) {
        tracebacks.push([i, out.textContent]);
        break;
      }
    }
  });
  return {
    prompts: prompts.filter(p => p).length,
    done: prompts.filter(p => p && /\\[\\d+\\]/.test(p.textContent)).length,
    tracebacks: tracebacks,
  };
}
"""


def _number(text: str) -> float:
    """A slider readout as a float (ipywidgets writes negatives with a Unicode minus)."""
    return float(text.strip().replace("\u2212", "-"))


def _line(text: str, start: str) -> str | None:
    for line in text.splitlines():
        if line.strip().startswith(start):
            return " ".join(line.split())
    return None


def _listing_item(page: Any, name: str) -> Any:
    """The file browser's entry for the file or folder called name."""
    exact = re.compile(rf"^\s*{re.escape(name)}\s*$")
    label = page.locator(".jp-DirListing-itemText", has_text=exact)
    return page.locator(".jp-DirListing-item").filter(has=label).first


def open_and_run_all(page: Any, lab: dict[str, Any], notebook: str) -> Any:
    """Open a MyST notebook as the README says and run all its cells; return its panel.

    In the file browser: into the notebook's folder, double-click the ``.md`` file (it
    opens as a notebook), then *Run > Run All Cells* from the menu bar. Waits
    until every code cell has run and fails at once if a cell not tagged
    ``raises-exception`` shows a traceback, or if a tagged one does not.
    """
    folder, filename = notebook.split("/")
    text = (Path(lab["root"]) / notebook).read_text("utf-8")
    code_cells = [c for c in jupytext.reads(text, fmt="md:myst").cells if c.cell_type == "code"]
    n_code = len(code_cells)
    # Indices (among code cells) of the cells that are meant to raise.
    raising = {
        i for i, c in enumerate(code_cells) if "raises-exception" in c.metadata.get("tags", [])
    }
    # A fresh workspace (?reset): no tabs or folder left from an earlier test.
    page.goto(f"{lab['url']}lab?reset&token={lab['token']}")
    _listing_item(page, folder).dblclick(timeout=60_000)
    _listing_item(page, filename).wait_for(timeout=60_000)
    executed = filename.removesuffix(".md") + ".ipynb"
    if (Path(lab["root"]) / folder / executed).is_file():
        # The executed copy is on disk but not in the file browser: the .md is the file
        # a reader opens (scripts/configure_jupyter.py).
        assert _listing_item(page, executed).count() == 0, f"{executed} is listed"
    # A double-click opens the .md as a notebook (the environment's default viewer).
    _listing_item(page, filename).dblclick()
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-CodeCell").first.wait_for(timeout=60_000)
    # JupyterLab sometimes asks which kernel to start; the reader accepts its proposal.
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    try:
        dialog.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        pass
    else:
        proposed = dialog.locator("select option:checked").inner_text()
        assert "Python 3" in proposed, f"JupyterLab proposes the kernel {proposed!r}"
        dialog.locator("button", has_text=re.compile(r"^Select$")).click()
    panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
        timeout=120_000
    )

    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells$")).first.click()
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while True:
        state = page.evaluate(CELL_STATE_JS)
        assert state is not None, "the notebook panel is gone"
        unexpected = [(i, tb) for i, tb in state["tracebacks"] if i not in raising]
        assert not unexpected, (
            f"{notebook}: code cell {unexpected[0][0]} raised:\n{unexpected[0][1][:2000]}"
        )
        if state["prompts"] == n_code and state["done"] == n_code:
            break
        assert time.monotonic() < deadline, f"{notebook}: Run All did not finish: {state}"
        time.sleep(1)
    raised = {i for i, _ in state["tracebacks"]}
    assert raised == raising, (
        f"{notebook}: code cells tagged raises-exception {sorted(raising)}, "
        f"code cells that raised {sorted(raised)}"
    )
    return panel


#: MyST markup that must not be left as text once a markdown cell is rendered.
RAW_MYST = ["{eval}", "{glue", ":::{", "```{"]
#: The explorers driven in JupyterLab: every case whose notebook the test runs anyway.
LAB_CASES = [c for c in CASES if c.notebook in LAB_NOTEBOOKS]


def _guard_requests(context: Any) -> list[str]:
    off_site: list[str] = []
    context.on(
        "request",
        lambda r: None if urlsplit(r.url).scheme in {"data", "blob"}
        or urlsplit(r.url).hostname in LOCAL_HOSTS else off_site.append(r.url),
    )
    return off_site


@pytest.mark.parametrize("case", LAB_CASES, ids=[c.chart for c in LAB_CASES])
def test_section_is_live_in_jupyterlab(
    case: Case, lab: dict[str, Any], browser: Any, screenshot_dir: Path
) -> None:
    """After Run All, the section's explorer draws from the kernel's inline Vega builds and
    follows its controls (keys and mouse) with the numbers of its Python twin, and its
    prose shows every number it quotes and no raw MyST markup."""
    folder, filename = case.notebook.split("/")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    off_site = _guard_requests(context)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    shot = screenshot_dir / f"jupyterlab__{folder}__{filename}.png"
    try:
        panel = open_and_run_all(page, lab, case.notebook)
        chart = panel.locator(f"#{case.chart_id}")
        chart.scroll_into_view_if_needed()
        trouble = drive(page, case, scope=panel)
        chart.screenshot(path=str(shot))
        prose = "\n".join(panel.locator(".jp-MarkdownCell").all_inner_texts())
    except Exception:
        page.screenshot(path=str(shot.with_name("FAILED-" + shot.name)))
        raise
    finally:
        context.close()
    # The prose: every quoted number, as the tested notebook stores it, and no raw MyST.
    trouble += [
        f"prose does not show {{eval}}`{key}` = {text!r}"
        for key, text in expected_glue(case.page) if text not in prose
    ]
    trouble += [f"raw MyST in the prose: {raw!r}" for raw in RAW_MYST if raw in prose]
    assert not trouble, f"{case.notebook} in JupyterLab:\n" + "\n".join(trouble)
    assert not errors, f"page errors: {errors}"
    assert not off_site, f"JupyterLab asked other hosts: {off_site}"


#: The front matter of a MyST notebook, as jupytext reads it.
MYST_FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

#: Every explorer of the book in one notebook, built from the data its section embeds:
#: one Run All in JupyterLab drives them all (the sections above run in full).
GALLERY_NOTEBOOK = MYST_FRONT_MATTER + """
# Every explorer

```{code-cell} ipython3
import json
from pathlib import Path

from gabalab import charts, measure
from gabalab.experiments import records, verdicts

ROOT = Path("..")
runs = verdicts.paired_runs(records.load_runs(ROOT / "results" / "fd001" / "trained"),
                            list(charts.balancing.METHOD_ORDER))
selected = {s: r.selected_epoch for (m, s), r in runs.items() if m == "sum"}
trend = measure.trained_ratio_trend(verdicts.ratio_through_training(runs, "sum"), selected)
table = json.loads(Path("selection_table.json").read_text())
methods = list(charts.balancing.METHOD_ORDER)
per_epoch = verdicts.per_epoch_spreads(verdicts.paired_runs(runs, methods), methods)
```

```{code-cell} ipython3
charts.show(charts.norm_scaling_chart(charts.norm_grid(0)), "s12_1_norm_scaling")
```

```{code-cell} ipython3
charts.show(charts.derivative_bound_chart(), "s12_2_derivative_bound")
```

```{code-cell} ipython3
charts.show(charts.epoch_chart(trend), "s12_3_epochs")
```

```{code-cell} ipython3
charts.show(charts.toy_bias_chart(), "s12_4_toy_bias")
```

```{code-cell} ipython3
charts.show(charts.selection_chart(table), "s18_1_selection")
```

```{code-cell} ipython3
from gabalab.weighting import DEFAULT_FLOOR

charts.show(charts.balancing_chart(per_epoch, floor=DEFAULT_FLOOR), "s18_2_balancing")
```

```{code-cell} ipython3
from gabalab import widgets

widgets.lab_only(widgets.retrain_explorer, widgets.retraining.NOTE)
```
"""


@pytest.fixture(scope="module")
def gallery(lab: dict[str, Any]) -> str:
    """The gallery notebook in the lab root; the 18.1 table as the section's page embeds it."""
    folder = Path(lab["root"]) / "gallery"
    folder.mkdir(exist_ok=True)
    spec = stored_spec(SELECTION_NOTEBOOK, "gabalab-chart-s18_1_selection")
    rows = embedded_values(spec, "sq_rul")
    table = {r["block"]: {"n_params": r["n_params"], "rul": r["sq_rul"],
                          "health": r["sq_health"]} for r in rows}
    (folder / "selection_table.json").write_text(json.dumps(table))
    (folder / "explorers.md").write_text(GALLERY_NOTEBOOK)
    return "gallery/explorers.md"


@pytest.fixture(scope="module")
def gallery_page(lab: dict[str, Any], browser: Any, gallery: str) -> Iterator[tuple[Any, Any]]:
    """The gallery, opened and run once in JupyterLab, for every case below."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    off_site = _guard_requests(context)
    page = context.new_page()
    page.on("pageerror", lambda e: off_site.append(f"page error: {e}"))
    try:
        panel = open_and_run_all(page, lab, gallery)
        yield page, panel
        assert not off_site, f"JupyterLab asked other hosts (or failed): {off_site}"
    finally:
        context.close()


@pytest.mark.parametrize("case", CASES, ids=[c.chart for c in CASES])
def test_every_explorer_is_live_in_jupyterlab(
    case: Case, gallery_page: tuple[Any, Any], screenshot_dir: Path
) -> None:
    """Each explorer, live in a JupyterLab kernel, follows its controls with the numbers of
    its Python twin (the Vega builds came inline with the kernel's first chart)."""
    page, panel = gallery_page
    chart = panel.locator(f"#{case.chart_id}")
    chart.scroll_into_view_if_needed()
    trouble = drive(page, case, scope=panel)
    chart.screenshot(path=str(screenshot_dir / f"jupyterlab__gallery__{case.chart}.png"))
    assert not trouble, f"{case.chart} in JupyterLab:\n" + "\n".join(trouble)


SELF_TEST_NOTEBOOK = MYST_FRONT_MATTER + """
# A notebook that raises

```{code-cell} ipython3
x = 41
```

```{code-cell} ipython3
:tags: [raises-exception]

raise ValueError("meant to raise")
```

```{code-cell} ipython3
print(x + 1)
```

```{code-cell} ipython3
%s
```
"""


@pytest.mark.parametrize(
    ("last_cell", "fails"),
    [("print('fine')", False), ("1 / 0", True)],
    ids=["tagged-error-only", "untagged-error"],
)
def test_run_all_tells_meant_errors_from_real_ones(
    last_cell: str, fails: bool, lab: dict[str, Any], browser: Any
) -> None:
    """The run-all step above can fail: it passes a cell tagged raises-exception (and runs
    on past it) but stops at an error in an untagged cell."""
    name = "tagged" if not fails else "untagged"
    folder = Path(lab["root"]) / "selftest"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.md").write_text(SELF_TEST_NOTEBOOK % last_cell)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        if fails:
            with pytest.raises(AssertionError, match="code cell 3 raised"):
                open_and_run_all(page, lab, f"selftest/{name}.md")
        else:
            panel = open_and_run_all(page, lab, f"selftest/{name}.md")
            assert "42" in panel.locator(".jp-CodeCell").nth(2).inner_text()
    finally:
        context.close()


#: The setting the test picks in the retraining explorer (menu labels) and as arguments.
RETRAIN_PICK = {"labels": ("0.5", "0.01", "1"), "ema": 0.5, "floor": 0.01, "epochs": 1}


def test_retraining_explorer_trains_in_jupyterlab(
    gallery_page: tuple[Any, Any], screenshot_dir: Path
) -> None:
    """18.2's ipywidgets explorer, in a live kernel: pick an EMA, a floor and the epochs,
    press Train, and the kernel retrains: the readouts are those of the Python function for
    the chosen setting and for the defaults, and the weight trace is drawn."""
    from gabalab.weighting import DEFAULT_EMA, DEFAULT_FLOOR
    from gabalab.widgets import retrain

    page, panel = gallery_page
    train = re.compile(r"^\s*Train\s*$")
    button = panel.locator(".widget-button", has_text=train)
    button.wait_for(timeout=60_000)
    explorer = panel.locator(".widget-vbox").filter(
        has=page.locator(".widget-button", has_text=train)).last
    explorer.scroll_into_view_if_needed()
    menus = explorer.locator("select")
    assert menus.count() == 3, f"expected three menus, found {menus.count()}"
    for menu, label in zip(menus.all(), RETRAIN_PICK["labels"]):
        menu.select_option(label=label)
    button.click()
    text = ""
    deadline = time.monotonic() + 120
    while "defaults" not in text or explorer.locator("img").count() == 0:
        assert time.monotonic() < deadline, f"no retraining readout: {text!r}"
        time.sleep(0.5)
        text = explorer.inner_text()
    explorer.screenshot(path=str(screenshot_dir / "jupyterlab__gallery__retraining.png"))
    shown = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    chosen = retrain(RETRAIN_PICK["ema"], RETRAIN_PICK["floor"],
                     epochs=RETRAIN_PICK["epochs"])
    defaults = retrain(DEFAULT_EMA, DEFAULT_FLOOR, epochs=RETRAIN_PICK["epochs"])
    for run in (chosen, defaults):
        for line in run.readout().splitlines():
            assert " ".join(line.split()) in shown, f"{line!r} not in the readout {shown}"
