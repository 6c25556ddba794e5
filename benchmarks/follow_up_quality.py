"""How well the 终本 follow-up models rank newer terminated cases than they saw.

Trains ``triage-resume`` and ``triage-recovery`` in memory (no registry) on
``--n`` generated terminated cases exported in 2023-2024 and judges them on
``--newer`` cases exported in the first half of 2025: yuan per 100
follow-ups at K = 1 %, 5 %, 10 % for the model, the three rules and the
Bayes-optimal ranking, and the calibration of the expected yuan against the
truth.  Not part of ``make bench`` (minutes, not a speed measurement)::

    python -m benchmarks.follow_up_quality --n 100000 --newer 50000 --budget 240
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> None:
    """Generate, train, judge; print the tables."""
    from features.load import load_cases
    from features.synthetic.terminated import TerminatedConfig, write_terminated
    from features.terminated import TERMINATED_RECORD
    from training.config import TrainingConfig
    from training.terminated import fit_terminated_models, follow_up_value, read_terminated_truth

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--newer", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--objective", choices=("gamma", "log"), default="gamma")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="follow-up-quality-") as scratch:
        folder = Path(scratch)
        write_terminated(args.n, folder / "t.csv", truth=folder / "tt.csv", seed=args.seed)
        newer = TerminatedConfig(start="2025-01-01", end="2025-06-30")
        write_terminated(
            args.newer, folder / "n.csv", truth=folder / "nt.csv", seed=args.seed + 1000,
            config=newer,
        )  # fmt: skip
        frame = load_cases(folder / "t.csv", require_labels=True, contract=TERMINATED_RECORD)
        truth = read_terminated_truth(folder / "tt.csv", frame["case_id"])
        new = load_cases(folder / "n.csv", contract=TERMINATED_RECORD)
        new_truth = read_terminated_truth(folder / "nt.csv", new["case_id"])
    config = TrainingConfig.model_validate(
        {
            "search": {"time_budget_seconds": args.budget, "n_trials": args.trials},
            "recovery_objective": args.objective,
            "figures": False,
        }
    )
    started = time.monotonic()
    fitted = fit_terminated_models(frame, config, truth=truth)
    print(f"trained on {args.n:,} cases in {time.monotonic() - started:.0f} s")
    p = fitted.outcomes["resume"].model.predict_proba(new)
    yuan = fitted.outcomes["recovery"].model.predict_proba(new)
    table = pd.DataFrame(follow_up_value(new, p * yuan, new_truth))
    print(table.to_string(index=False))
    value, true_value = p * yuan, new_truth["expected_yuan_true"].to_numpy()
    deciles = pd.qcut(value, 10, labels=False)
    print(f"expected yuan per follow-up, total ÷ true: {value.sum() / true_value.sum():.3f}")
    print(
        "per decile: "
        + " ".join(
            f"{value[deciles == d].sum() / true_value[deciles == d].sum():.2f}" for d in range(10)
        )
    )
    print(f"p_resume mean ÷ true: {p.mean() / new_truth['p_recover_true'].mean():.3f}")
    recovered = new["recovered_after"].to_numpy() == 1
    expected = new_truth["expected_amount_true"].to_numpy()[recovered]
    print(
        "yuan given recovery, total ÷ true: "
        f"{yuan[recovered].sum() / expected.sum():.3f} ({int(recovered.sum())} recovered cases)"
    )


if __name__ == "__main__":
    main()
