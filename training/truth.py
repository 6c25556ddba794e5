"""The true probabilities of synthetic cases, from a generator's truth file.

``triage generate --truth`` writes each case's true label probabilities; with
them training measures the gap to the Bayes limit (the best any model can do
on the same cases).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["RECOVERY_TRUTH", "TRUTH_COLUMNS", "TruthFileError", "read_truth"]

#: The column of each model's true probability in a generator's truth file.
TRUTH_COLUMNS = {"stream": "p_complex_true", "assets": "p_assets_true"}
#: The true expected recovered yuan of each case (``p_assets_true × E[amount | recovered]``);
#: optional: truth files written before it lack it.  Read under the key ``recovery``.
RECOVERY_TRUTH = "expected_recovery_true"


class TruthFileError(ValueError):
    """A truth file that does not fit the data it claims to describe."""


def read_truth(path: str | Path, case_ids: pd.Series) -> dict[str, pd.Series]:
    """True probabilities from a generator's truth file, aligned to ``case_ids``.

    Keys ``stream`` and ``assets``; ``recovery`` too (true expected yuan) when
    the file has :data:`RECOVERY_TRUTH` for every case.
    """
    truth = pd.read_csv(path, dtype={"case_id": str})
    needed = {"case_id", *TRUTH_COLUMNS.values()}
    if not needed <= set(truth.columns):
        raise TruthFileError(f"{path}: a truth file needs the columns {sorted(needed)}")
    repeated = truth["case_id"][truth["case_id"].duplicated()].unique()
    if len(repeated):
        raise TruthFileError(
            f"{path}: {len(repeated)} case_id(s) appear more than once, e.g. {repeated[0]!r}"
        )
    aligned = truth.set_index("case_id").reindex(case_ids.astype(str).to_numpy())
    for column in TRUTH_COLUMNS.values():
        probability = aligned[column]
        unusable = probability.isna() | ~probability.between(0.0, 1.0)
        if unusable.any():
            first = aligned.index[unusable.to_numpy()][0]
            raise TruthFileError(
                f"{path}: {int(unusable.sum())} case(s) of the data have no {column} "
                f"in [0, 1], e.g. case_id {first!r}"
            )
    truths = {
        kind: aligned[column].reset_index(drop=True) for kind, column in TRUTH_COLUMNS.items()
    }
    if RECOVERY_TRUTH in aligned.columns:
        recovery = aligned[RECOVERY_TRUTH]
        unusable = recovery.isna() | (recovery < 0)
        if unusable.any():
            first = aligned.index[unusable.to_numpy()][0]
            raise TruthFileError(
                f"{path}: {int(unusable.sum())} case(s) of the data have no {RECOVERY_TRUTH} "
                f"≥ 0, e.g. case_id {first!r}"
            )
        truths["recovery"] = recovery.reset_index(drop=True)
    return truths
