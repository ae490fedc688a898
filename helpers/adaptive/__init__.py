"""The adaptive evaluation: an attacker who knows the detector (docs/adaptive.md).

- :mod:`helpers.adaptive.model`: the detector-aware model (the consensus of f on x and on every view a detector
  looks at), the attacker's differentiable picture of the detectors;
- :mod:`helpers.adaptive.defences`: the real detectors guarding f, their own rule and matched threshold, the
  system of several with one threshold, the splits by photograph and the realised false-positive rates;
- :mod:`helpers.adaptive.judge`: the judge every point an attack reaches is shown to, and what it keeps;
- :mod:`helpers.adaptive.members`: the attack members (APGD on the detector-aware model; APGD-CE on f and Square
  on the system for the checks) and the budgets;
- :mod:`helpers.adaptive.checks`: the checks that can fail;
- :mod:`helpers.adaptive.evaluation`: the evaluation, its worst case and its gate;
- :mod:`helpers.adaptive.outcomes`: the same in a sharded study (per-image rows, rates and checks after the merge);
- :mod:`helpers.adaptive.protocol`: notebook 08's paper protocol (non-adaptive and black-box sets, the bypass
  table).
"""
