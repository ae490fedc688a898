"""One module per experiment (a notebook's question), each with the same four steps:

- ``run(config, runs=None) -> Result``: the per-model score tables, rates and metadata of one run (a
  frozen dataclass), from the notebook's parameters; ``from_scores(scores, metadata, config)`` builds the
  same ``Result`` from a saved score table, with no model (what ``python -m helpers.report`` does);
- ``tables(result)``: name -> :class:`helpers.experiments.common.Table` (layout, tidy twin, caption);
- ``figures(result)``: name -> its figure per model;
- ``findings(result)``: the named facts and the headline sentences built from them.

``common`` holds what they share: the models, images and attack sets of a run, prepared once
(:func:`helpers.experiments.common.prepare`), the table export and the saved score tables.
"""
