"""gabalab: measure, explain and balance the per-task gradient imbalance in multi-task learning.

Every public module, by layer. Compute modules import only each other; ``plots`` draws what
compute modules return; ``charts`` builds the live explorers from compute modules;
``widgets`` wires controls to compute and plots; ``experiments`` are command-line scripts on
top of everything else.

Compute
-------
constants
    The RUL cap, the health-class thresholds, window length and sensor list.
losses
    MSE and softmax cross-entropy gradients: analytic (NumPy) and autograd (PyTorch).
linear_reference
    A linear dual-head model with its gradients by the chain rule, and its PyTorch twin.
norms
    Shared-parameter selection by name, per-task gradient norms, how norms scale with N.
blocks
    Per-block squared gradient norms, and the norms and weights of any choice of blocks.
weighting
    Closed-form GABA weights (two rules by name), IMTL-G, the EMA of the norms, the floor.
gaba
    GABA as a training step: ``GabaBalancer`` in place of ``loss.backward()``.
gaba_stages
    The stages of one GABA step as plain functions: task gradients, norms, the ``.grad`` write.
sensors
    Cheaper sensors: weights held between measurements, norms on the shared features.
sensor_comparison
    The cheaper sensors' weights computed beside the exact sensor's, and their differences.
distributed
    Exact GABA over several processes: per-task gradients averaged over the ranks, agreed
    decisions, guards against setups that cannot be exact.
amp
    Mixed precision: a ``GradScaler``'s scale kept out of the norms, overflows handed back.
toy
    The two-task toy with one shared scalar: closed forms, NumPy and PyTorch training.
ledger
    Verdicts on the source chapters' claims, computed from a section's measurement.
measure
    The epoch protocol: per-batch norms and ratios over an epoch, summaries and tables.
models
    The course's dual-task model and a tiny dual-head model.
loss_recipes
    Training with rescaled targets, fixed weights or robust losses (the 12.2 pitfalls).
methods
    How the task losses become one gradient: the naive sum, fixed weights, GABA.
training
    Training on the summed loss, evaluation, checkpoints.
comparison
    Methods compared honestly: paired t-intervals and exact sign-flip tests over seeds,
    Holm's adjustment, a bootstrap over test units.
probe
    The linear probe on the frozen shared features; the FD001 probe read against chance
    and the health head.
memory
    Allocation, saved-tensor and graph-size measurements.
scoped
    Context managers that seed torch or set train/eval mode inside a block.
progress
    Progress bars of the long loops.
files
    Files written whole or not at all, and output paths checked before long work.
data
    NASA C-MAPSS data: ``data.cmapss`` (reading), ``data.targets`` (RUL and labels),
    ``data.windows`` (windows and loaders), ``data.split`` (a validation split by unit),
    ``data.fleet`` (writers, simulated fleet).

Presentation
------------
plots
    The book's figures: ``plots.style``, ``plots.derivative_bound``, ``plots.norm_scaling``,
    ``plots.epochs``, ``plots.toy_bias``, ``plots.selection``, ``plots.balancing``,
    ``plots.sensors``.
charts
    The book's live explorers: Vega-Lite charts (through Altair) that run in the page, on the
    static site and in JupyterLab, with no kernel and no network. ``charts.render`` writes
    them as deterministic offline HTML, ``charts.sphinx`` serves the site's copy of Vega;
    one module per explorer: ``charts.norm_scaling``, ``charts.derivative_bound``,
    ``charts.epochs``, ``charts.toy_bias``, ``charts.selection``, ``charts.balancing``.
prose
    Numbers in a notebook's prose: ``glue`` stores a value for the book and binds it in the
    kernel, so ``{eval}`` shows it on the site and in JupyterLab alike.
site
    The site's Sphinx hooks: MathJax only on pages with math, named navigation toggles.
widgets
    JupyterLab explorers that need a kernel (ipywidgets): ``widgets.retraining`` retrains
    section 18.2's small model with a chosen EMA and floor; ``widgets.live`` shows an
    explorer in JupyterLab and a note on the site.
notebook
    The one-call preamble of every section notebook; pitfalls shown as their message.

Scripts
-------
experiments
    Re-runnable FD001 experiments with provenance: ``experiments.epoch_at_init``,
    ``experiments.training_sweep``, ``experiments.linear_probe``, ``experiments.balancing``,
    ``experiments.sensor_cost``, ``experiments.provenance``,
    ``experiments.trained``, ``experiments.records``, ``experiments.verdicts``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
