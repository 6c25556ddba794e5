"""Expected recovery of new cases, per decile, against what newer cases realised and the truth.

Issue #14's bar: ``expected_recovery = p_assets × E[recovered_amount |
recovered]`` calibrated per decile within 10 % of realised.  Synthetic cases
(seed 1, 2021–2024; ``TRIAGE_BENCH_RECOVERY_CASES``, default 100,000) train
both new-case models in-process as ``triage train`` does (the assets model
with its amount part, budget ``TRIAGE_BENCH_RECOVERY_BUDGET`` seconds,
default 180); newer cases (seed 2, 2025 H1, as many) are scored with them.

Reported per decile of predicted expected recovery: the mean predicted, the
mean realised ``recovered_amount`` (0 where nothing was recovered) and the
generator's exact expected recovery (``expected_recovery_true``, no sampling
noise), with predicted ÷ realised and predicted ÷ true.  ``failed_properties``
lists each decile whose predicted ÷ realised is outside 0.9–1.1, and the same
against the truth (which says whether a miss is the model's or the sample's).
"""

from __future__ import annotations

import os
import time
from typing import Any

#: Issue #14: each decile's predicted ÷ realised within 10 %.
TOLERANCE = 0.10


def case_count(text: str | None, default: int = 100_000) -> int:
    """A case count from an environment variable's text (default when unset)."""
    if not text or not text.strip():
        return default
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"a case count must be a whole number, got {text!r}") from None
    if n < 5_000:
        raise ValueError(f"at least 5000 cases are needed, got {text!r}")
    return n


def failed_properties(deciles: list[dict[str, float]]) -> list[str]:
    """Deciles whose predicted ÷ realised (and ÷ true) are off by more than 10 % (pure)."""
    failed = []
    for row in deciles:
        for key, against in (("ratio", "realised"), ("ratio_expected", "true")):
            ratio = row.get(key)
            if ratio is not None and not 1 - TOLERANCE <= ratio <= 1 + TOLERANCE:
                failed.append(
                    f"decile {int(row['decile'])}: predicted ÷ {against} {ratio:.3f}, "
                    f"outside {1 - TOLERANCE:.1f}–{1 + TOLERANCE:.1f}"
                )
    return failed


def run() -> dict[str, Any]:
    """Train on older cases, score newer ones, compare expected recovery per decile."""
    import numpy as np

    from features.synthetic import GeneratorConfig, generate_cases
    from training.config import SearchConfig, TrainingConfig
    from training.evaluate import amount_calibration
    from training.train import fit_models

    n = case_count(os.environ.get("TRIAGE_BENCH_RECOVERY_CASES"))
    budget = float(os.environ.get("TRIAGE_BENCH_RECOVERY_BUDGET", "180"))
    started = time.perf_counter()
    history = generate_cases(n, seed=1)
    newer = generate_cases(n, seed=2, config=GeneratorConfig(start="2025-01-01", end="2025-06-30"))
    generated = time.perf_counter() - started
    truth = history.truth
    truths = {
        "stream": truth["p_complex_true"],
        "assets": truth["p_assets_true"],
        "recovery": truth["expected_recovery_true"],
    }
    config = TrainingConfig(search=SearchConfig(time_budget_seconds=budget), figures=False)
    started = time.perf_counter()
    fitted = fit_models(history.cases, config, truths=truths)
    trained = time.perf_counter() - started
    assets = fitted.outcomes["assets"].model
    assert assets.amount is not None, fitted.outcomes["assets"].recovery_problem
    features = assets.features(newer.cases)
    p_assets = assets.predict_features(features, reasons=0).probability
    predicted = assets.expected_recovery(features, p_assets)
    assert predicted is not None
    realised = newer.cases["recovered_amount"].to_numpy(dtype=np.float64)
    true = newer.truth["expected_recovery_true"].to_numpy(dtype=np.float64)
    table = amount_calibration(realised, predicted, true)
    deciles = [
        {k: (int(v) if k in ("decile", "n") else round(float(v), 4)) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]
    recovered = realised > 0
    amount = assets.amount.yuan(features, assets.feature_names)
    given_true = true / newer.truth["p_assets_true"].to_numpy(dtype=np.float64)
    print("decile  predicted ÷ realised  predicted ÷ true")
    for row in deciles:
        print(f"{row['decile']:>6}  {row['ratio']:>20.3f}  {row['ratio_expected']:>16.3f}")
    test_part = fitted.outcomes["assets"].recovery
    return {
        "train_cases": n,
        "newer_cases": len(realised),
        "budget_seconds": budget,
        "seconds": {"generate": round(generated, 1), "train": round(trained, 1)},
        "totals": {
            "predicted_over_realised": float(predicted.sum() / realised.sum()),
            "predicted_over_true": float(predicted.sum() / true.sum()),
            "realised_over_true": float(realised.sum() / true.sum()),
            "p_assets_over_true": float(
                p_assets.mean() / newer.truth["p_assets_true"].to_numpy().mean()
            ),
            "amount_given_recovery_over_realised": float(
                amount[recovered].sum() / realised[recovered].sum()
            ),
            "amount_given_recovery_over_true": float(
                amount[recovered].sum() / given_true[recovered].sum()
            ),
        },
        "deciles": deciles,
        "test_split_deciles": (
            None
            if test_part is None
            else [
                {k: round(float(v), 4) for k, v in row.items()}
                for row in test_part.calibration.to_dict(orient="records")
            ]
        ),
        "failed_properties": failed_properties(deciles),
    }
