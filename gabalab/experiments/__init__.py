"""Experiments of the course, each runnable as ``python -m gabalab.experiments.<name>``.

* :mod:`~gabalab.experiments.epoch_at_init` - the gradient-norm ratio
  ``||g_rul|| / ||g_health||`` on the shared trunk of a freshly initialised
  :class:`~gabalab.models.DualTaskModel`, batch by batch over one epoch.
* :mod:`~gabalab.experiments.training_sweep` - train on the naive summed loss and measure the
  ratio distribution at chosen epochs, with test RMSE and health accuracy per epoch; ends with
  the linear probe.
* :mod:`~gabalab.experiments.linear_probe` - how much health information the trained shared
  features carry: a multinomial logistic regression on the frozen 32-d features.
* :mod:`~gabalab.experiments.sensor_cost` - what the cheaper GABA sensors (periodic
  measurement, the representation sensor) give up against the exact one: their weights step
  by step beside the exact run's, then training runs with each for the test outcome.

* :mod:`~gabalab.experiments.trained` - the sum, a fixed weight, GABA and uncertainty
  weighting trained under one protocol (validation split by unit, early stopping, a
  learning-rate schedule) on the same seeds; one resumable run per method and seed.
* :mod:`~gabalab.experiments.records` - those runs as typed records, with one checked
  loader; :mod:`~gabalab.experiments.verdicts` - what they show: each method's scores,
  contrasts paired by seed (Holm-adjusted) and the same contrasts resampled over test units.

All take ``--data-dir`` (or the ``GABALAB_CMAPSS_DIR`` environment variable, or ``--simulated``
for a synthetic fleet), ``--seed``, ``--out`` and ``--batch-size``, and write a JSON file with
the results and their provenance (:mod:`gabalab.experiments.provenance`).
"""

__all__ = ["epoch_at_init", "training_sweep", "linear_probe", "sensor_cost"]
