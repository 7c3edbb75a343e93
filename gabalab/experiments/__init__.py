"""Experiments of the course, each runnable as ``python -m gabalab.experiments.<name>``.

* :mod:`~gabalab.experiments.epoch_at_init` - the gradient-norm ratio
  ``||g_rul|| / ||g_health||`` on the shared trunk of a freshly initialised
  :class:`~gabalab.models.DualTaskModel`, batch by batch over one epoch.
* :mod:`~gabalab.experiments.training_sweep` - train on the naive summed loss and measure the
  ratio distribution at chosen epochs, with test RMSE and health accuracy per epoch; ends with
  the linear probe.
* :mod:`~gabalab.experiments.linear_probe` - how much health information the trained shared
  features carry: a multinomial logistic regression on the frozen 32-d features.

All take ``--data-dir`` (or the ``GABALAB_CMAPSS_DIR`` environment variable, or ``--simulated``
for a synthetic fleet), ``--seed``, ``--out`` and ``--batch-size``, and write a JSON file with
the results and their provenance (:mod:`gabalab.experiments.provenance`).
"""

__all__ = ["epoch_at_init", "training_sweep", "linear_probe"]
