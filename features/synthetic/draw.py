"""Drawing a block of cases: the case mix, the debtor, its holdings, the outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.draw_case_mix import (
    _draw_claim,
    _draw_court,
    _draw_days_since_judgment,
    _draw_filing,
    _draw_instrument_and_parties,
    _draw_party_counts,
)
from features.synthetic.draw_debtor import (
    _draw_debtor,
    _draw_enterprise,
    _draw_history,
    _draw_listing,
    _draw_whereabouts,
)
from features.synthetic.draw_holdings import _draw_holdings, _draw_inquiry, _draw_preservation
from features.synthetic.draw_outcomes import _draw_outcomes
from features.synthetic.world import GeneratorConfig, _World

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block with this module.
    from features.synthetic.calibration import _Calibration


def _draw_block(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    world: _World,
) -> dict[str, dict[str, np.ndarray]]:
    """Draw ``n`` cases: observed columns (internal codes), truth and latent events.

    Codes are int8 indices in the contract's order, missing numbers NaN.  Each
    step draws from ``rng`` after the one before it: their order is part of what
    a seed produces, so a step may not move or draw more.  On the pilot sample
    (``cal.solving``) each step also solves the constants it needs.
    """
    c: dict[str, np.ndarray] = {}
    c |= _draw_filing(rng, n, config, world)
    c["claim_amount"] = _draw_claim(rng, n, config, world, c["cause"])
    c |= _draw_instrument_and_parties(rng, n, config, cal, world, c["cause"])
    debtor, c["respondent_age"] = _draw_debtor(rng, n, world, c)
    c |= _draw_enterprise(rng, n, config, cal, debtor, c["claim_amount"])
    c |= _draw_party_counts(rng, n, config, cal, world, c["cause"], debtor.enterprise)
    c |= _draw_court(rng, n, world, c["province"], c["claim_amount"])
    c["days_since_judgment"] = _draw_days_since_judgment(rng, n, debtor.solvency)
    c |= _draw_history(rng, debtor, c["cause"])
    c |= _draw_listing(rng, n, config, cal, world, debtor, c)
    c["whereabouts_known"] = _draw_whereabouts(rng, n, config, cal, debtor, c)
    c |= _draw_preservation(rng, n, config, cal, debtor, c)
    holdings = _draw_holdings(rng, n, config, cal, debtor, c)
    c |= _draw_inquiry(rng, n, config, holdings)
    return _draw_outcomes(rng, n, config, cal, debtor, c, holdings)
