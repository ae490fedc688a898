"""One module per experiment (a notebook's question), each a vertical slice of the same steps:

- ``Config.from_params(params)``: the checked notebook parameters the experiment reads, typed, once;
- ``run(config, runs=None) -> Result``: the per-model score tables, rates and metadata of one run (a frozen
  dataclass); ``from_scores(scores, metadata, params)`` builds the same ``Result`` from a saved score table,
  with no model (what ``python -m helpers.report`` does);
- ``facts(result) -> Facts``: the only analysis, every number a table, figure or sentence shows;
- ``tables(facts)``, ``figures(result, facts)``, ``findings(facts)``: formatters that only format.

``common`` holds what they share: the models, images and attack sets of a run, prepared once
(:func:`helpers.experiments.runs.prepare`), the table export and the saved score tables.
"""
