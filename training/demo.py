"""`make demo`, training part: synthetic cases → two registered models → scored cases.

Everything goes under ``TRIAGE_HOME`` (``.triage/`` in the checkout when run
by ``make``): the data in ``demo/``, the MLflow store, the scores.  Each step
prints what it did; the end prints the model cards' summary, the gap to the
Bayes limit on cases the models never saw, and how to look at the runs.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.settings import apply_environment, get_settings

TRAIN_CASES = 200_000
FRESH_CASES = 20_000


@dataclass(frozen=True)
class DemoFiles:
    folder: Path

    @property
    def cases(self) -> Path:
        return self.folder / "cases.csv"

    @property
    def truth(self) -> Path:
        return self.folder / "truth.csv"

    @property
    def fresh(self) -> Path:
        return self.folder / "fresh_cases.csv"

    @property
    def fresh_truth(self) -> Path:
        return self.folder / "fresh_truth.csv"

    @property
    def scores(self) -> Path:
        return self.folder / "fresh_scores.csv"


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def generate(files: DemoFiles) -> None:
    """200k historical cases (2021–2024) and 20k fresh ones (2025 H1), with truth."""
    from features.synthetic import GeneratorConfig, write_synthetic

    files.folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    write_synthetic(TRAIN_CASES, files.cases, files.truth, seed=1)
    write_synthetic(
        FRESH_CASES,
        files.fresh,
        files.fresh_truth,
        seed=2,
        config=GeneratorConfig(start="2025-01-01", end="2025-06-30"),
    )
    print(
        f"{TRAIN_CASES:,} labelled cases -> {files.cases}\n"
        f"{FRESH_CASES:,} newer cases -> {files.fresh} ({time.monotonic() - started:.0f} s)"
    )


def train(files: DemoFiles):
    """Train both models on the historical cases and register them."""
    from training.cli import print_outcomes
    from training.train import train as train_models

    result = train_models(files.cases, truth=files.truth)
    print_outcomes(result)
    print(f"\ntrained in {result.seconds:.0f} s (run {result.run_id})")
    return result


def score(files: DemoFiles) -> dict[str, object]:
    """Score the fresh cases with the champions; compare with their true probabilities."""
    import pandas as pd

    from training import evaluate
    from training.score import score_file

    summary = score_file(files.fresh, files.scores)
    print(
        f"scored {summary['rows']:,} cases in {summary['seconds']:.1f} s with "
        f"{summary['stream_model']} and {summary['assets_model']} -> {files.scores}"
    )
    scores = pd.read_csv(files.scores, dtype={"case_id": str})
    labels = pd.read_csv(
        files.fresh,
        usecols=["case_id", "is_complex", "has_recoverable_assets"],
        dtype={"case_id": str},
    )
    truth = pd.read_csv(files.fresh_truth, dtype={"case_id": str})
    joined = scores.merge(labels, on="case_id").merge(truth, on="case_id")
    for label, column, true_column in (
        ("is_complex", "p_complex", "p_complex_true"),
        ("has_recoverable_assets", "p_assets", "p_assets_true"),
    ):
        model = evaluate.binary_metrics(joined[label], joined[column])
        bayes = evaluate.binary_metrics(joined[label], joined[true_column])
        gap = evaluate.gap_to_bayes(model, bayes)
        print(
            f"  {label}: AUC {model['auc']:.4f} (Bayes limit {bayes['auc']:.4f}, "
            f"gap {gap['auc_gap']:.4f}); log loss {model['log_loss']:.4f} "
            f"(limit {bayes['log_loss']:.4f}, +{gap['log_loss_gap_pct']:.2f} %)"
        )
    shares = scores["stream"].value_counts(normalize=True)
    print(
        "  streams: "
        + " · ".join(
            f"{name} {shares.get(name, 0):.1%}" for name in ("simple", "complex", "review")
        )
    )
    return summary


def main() -> int:
    """Run the training part of the demo end to end."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("training").setLevel(logging.INFO)  # progress of the 4-minute fit
    settings = apply_environment(get_settings())
    files = DemoFiles(settings.home / "demo")
    step(f"1/3 generating synthetic cases into {files.folder}")
    generate(files)
    step("2/3 training both models (search within the time budget, about 4 minutes)")
    train(files)
    step("3/3 scoring the newer cases with the champions")
    score(files)
    step("done")
    print(
        f"MLflow runs and the model registry: `make mlflow-ui`, then http://127.0.0.1:5000\n"
        f"state directory: {settings.home}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
