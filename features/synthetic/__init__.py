"""Synthetic enforcement cases (执行案件) with known truth.

``triage generate`` writes cases that follow the case record
(:mod:`features.record`), labels included, and — for the Bayes limit — each
case's true label probabilities.

How a case is made
------------------
1. *Case mix.*  Filing date (working days, a dip at the Spring Festival),
   province (richer, more populous provinces file more), cause of action.
   The cause sets the claim size (log-normal), the instrument, the applicant
   (credit cards and bank loans: a financial institution) and the debtor
   (traffic accidents and family support: a natural person; labour pay: often
   an enterprise).  Larger claims go to intermediate or high courts.
2. *The debtor.*  A latent solvency (standard normal, shifted by region,
   cause and debtor type) drives what the debtor holds and how it behaved:
   deposits, online balances, property, vehicles, securities, salary, prior
   cases and prior 终本, listing as dishonest, whereabouts, a zombie
   enterprise status.
3. *The first network inquiry* reports the holdings; a share of cases is
   scored at the filing desk before it answers and shows none of them.
4. *Labels* are Bernoulli draws from probabilities that are exact functions
   of the observed contract fields — never of the latent solvency — so the
   Bayes limit of a sample is known.  ``has_recoverable_assets`` has one
   logit, smooth and mostly additive over domain quantities (funds ÷ claim,
   preserved ÷ claim, property counts, prior 终本 share, log claim, enterprise
   status, whereabouts …) with a few moderate interactions.  ``is_complex`` is
   the union of four independent events — appraisal or auction, objection,
   transfer to bankruptcy, running past the 6-month limit — each with such a
   logit, so ``p_complex_true = 1 − Π(1 − p_k)``.  Cases whose inquiry has not
   answered get logits over the filing fields only, fitted once to the full
   model (a logistic regression on soft targets), so they too are exact.
5. *Rates* marked as estimates in the domain notes are fields of
   :class:`GeneratorConfig`.  The constants that make them come out
   (intercepts, thresholds) are solved once per configuration on a fixed
   pilot sample, so the true functions depend on the configuration only,
   never on the seed or the number of cases.

Output is deterministic for a seed: cases are drawn in blocks of
:data:`CHUNK_SIZE` from ``SeedSequence(seed).spawn``, so the first block of a
large file equals a small file of the same seed.

Where things are
----------------
``world``
    :class:`GeneratorConfig`, the fixed tables (provinces, causes, courts),
    filing days and small numerical helpers.
``draw``
    Drawing a block of cases: it calls the steps of ``draw_case_mix`` (1),
    ``draw_debtor`` (2), ``draw_holdings`` (2, 3) and ``draw_outcomes`` (4) in
    a fixed order, which is part of what a seed produces.
``truth``
    The true probabilities: the outcome logits over the observed fields.
``calibration``
    Solving the constants of a configuration on the pilot sample (5).
``personal_data``
    Names, identity numbers, phones and addresses (``with_pii`` only).
``blocks``
    Blocks of cases as Arrow tables, with their case numbers.
``sample``
    :func:`generate_cases` and :func:`true_probabilities`, in memory.
``write``
    :func:`write_synthetic`: CSV or Parquet files, written atomically.
``targets``
    :data:`CALIBRATION_TARGETS` and :func:`measure_calibration`.
``text``
    Arrow string helpers.

Importing the package computes nothing: the world and the calibration of a
configuration are built on first use.
"""

from features.synthetic.blocks import CHUNK_SIZE
from features.synthetic.sample import SyntheticSample, generate_cases, true_probabilities
from features.synthetic.targets import CALIBRATION_TARGETS, CalibrationTarget, measure_calibration
from features.synthetic.world import GeneratorConfig
from features.synthetic.write import write_synthetic

__all__ = [
    "CALIBRATION_TARGETS",
    "CHUNK_SIZE",
    "CalibrationTarget",
    "GeneratorConfig",
    "SyntheticSample",
    "generate_cases",
    "measure_calibration",
    "true_probabilities",
    "write_synthetic",
]
