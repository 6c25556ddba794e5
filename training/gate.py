"""The promotion gate: a new version serves only if it is no worse than the champion.

Both are scored on the *same* out-of-time test split (the newest cases of the
new training data), so the comparison is fair even when the champion was
trained on another export.  The new version must also clear absolute floors,
so a first model trained on shuffled labels never serves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from models import registry
from training.config import GateConfig
from training.evaluate import DEFAULT_BINS, amount_metrics, binary_metrics

#: Metrics of scores on the test split, and the decision they allow (pure), per model output.
Scorer = Callable[..., dict[str, float]]
Decision = Callable[[Mapping[str, float], Mapping[str, float] | None, GateConfig], tuple[bool, str]]


def ece_ceiling(config: GateConfig, n_cases: int, n_bins: int = DEFAULT_BINS) -> float:
    """The calibration-error ceiling at this test size.

    A perfectly calibrated model still shows an ECE of about
    ``sqrt(2/π) · sqrt(p(1−p) · bins / n)`` from sampling noise (0.06 on 600
    cases, 0.009 on 30,000); the ceiling allows for it (with p(1−p) ≤ 1/4) so
    that a small court's test split does not fail a good model.
    """
    noise = math.sqrt(2 / math.pi) * math.sqrt(0.25 * n_bins / max(n_cases, 1))
    return config.max_ece + noise


def gate_decision(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, config: GateConfig
) -> tuple[bool, str]:
    """Whether metrics on the test split allow promotion, and why (pure)."""
    failures = []
    if not candidate["auc"] >= config.min_auc:
        failures.append(f"test AUC {candidate['auc']:.4f} is below the floor {config.min_auc}")
    ceiling = ece_ceiling(config, int(candidate["n"]))
    if not candidate["ece"] <= ceiling:
        failures.append(
            f"calibration error {candidate['ece']:.4f} is above the ceiling {ceiling:.4f} "
            f"({config.max_ece} plus sampling noise at {int(candidate['n'])} test cases)"
        )
    if champion is not None:
        if candidate["auc"] < champion["auc"] - config.auc_tolerance:
            failures.append(
                f"test AUC {candidate['auc']:.4f} trails the champion's {champion['auc']:.4f} "
                f"by more than {config.auc_tolerance}"
            )
        if candidate["log_loss"] > champion["log_loss"] * (1 + config.log_loss_tolerance):
            failures.append(
                f"test log loss {candidate['log_loss']:.4f} exceeds the champion's "
                f"{champion['log_loss']:.4f} by more than {config.log_loss_tolerance:.0%}"
            )
    if failures:
        return False, "not promoted: " + "; ".join(failures)
    if champion is None:
        return True, (
            f"promoted: first champion, test AUC {candidate['auc']:.4f}, "
            f"log loss {candidate['log_loss']:.4f}"
        )
    return True, (
        f"promoted: test AUC {candidate['auc']:.4f} vs champion {champion['auc']:.4f}, "
        f"log loss {candidate['log_loss']:.4f} vs {champion['log_loss']:.4f}"
    )


def amount_gate_decision(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, config: GateConfig
) -> tuple[bool, str]:
    """The gate of a yuan model (:func:`training.evaluate.amount_metrics`), pure.

    It must rank amounts better than predicting every case the mean
    (``deviance_skill`` > 0), its total must match the realised total within
    ``max_yuan_bias`` plus twice the total's sampling noise, and its gamma
    deviance may exceed the champion's by at most ``log_loss_tolerance``.
    """
    failures = []
    if not candidate["deviance_skill"] > 0:
        failures.append(
            f"gamma deviance skill {candidate['deviance_skill']:.4f} is not above 0 "
            "(no better than predicting the mean)"
        )
    ceiling = config.max_yuan_bias + 2 * candidate["bias_noise"]
    if not abs(candidate["bias"]) <= ceiling:
        failures.append(
            f"predicted yuan total is {candidate['bias']:+.1%} off the realised, beyond "
            f"{ceiling:.1%} ({config.max_yuan_bias:.0%} plus twice the sampling noise)"
        )
    if champion is not None and candidate["gamma_deviance"] > champion["gamma_deviance"] * (
        1 + config.log_loss_tolerance
    ):
        failures.append(
            f"test gamma deviance {candidate['gamma_deviance']:.4f} exceeds the champion's "
            f"{champion['gamma_deviance']:.4f} by more than {config.log_loss_tolerance:.0%}"
        )
    if failures:
        return False, "not promoted: " + "; ".join(failures)
    if champion is None:
        return True, (
            f"promoted: first champion, gamma deviance {candidate['gamma_deviance']:.4f}, "
            f"yuan total {candidate['bias']:+.1%}"
        )
    return True, (
        f"promoted: gamma deviance {candidate['gamma_deviance']:.4f} vs champion "
        f"{champion['gamma_deviance']:.4f}"
    )


def promote_if_better(
    name: str,
    version: str,
    *,
    candidate_metrics: Mapping[str, float],
    target: str,
    test_frame: pd.DataFrame,
    config: GateConfig,
    amounts: bool = False,
    command: str = "triage train",
) -> dict[str, object]:
    """Make ``version`` the challenger, and the champion if it passes the gate.

    ``candidate_metrics`` are the new version's on ``test_frame`` (training
    computed them already); the champion is scored on the same cases here.
    ``amounts``: the model predicts yuan (the recovery model), judged by
    :func:`amount_gate_decision` on :func:`~training.evaluate.amount_metrics`;
    otherwise a probability, judged by :func:`gate_decision`.
    """
    score: Scorer = amount_metrics if amounts else binary_metrics
    decide: Decision = amount_gate_decision if amounts else gate_decision
    registry.move_alias(
        name, registry.CHALLENGER, version, "newly trained version", command=command
    )
    y = test_frame[target].to_numpy()
    try:
        champion = registry.load_case_model(name, alias=registry.CHAMPION)
    except LookupError:
        champion = None
    champion_metrics = (
        None if champion is None else score(y, champion.model.predict_proba(test_frame))
    )
    promoted, reason = decide(candidate_metrics, champion_metrics, config)
    if champion is not None:
        reason += f" (champion was version {champion.version})"
    if promoted:
        registry.move_alias(name, registry.CHAMPION, version, reason, command=command)
    return {
        "name": name,
        "version": version,
        "promoted": promoted,
        "reason": reason,
        "candidate": candidate_metrics,
        "champion": champion_metrics,
        "champion_version": None if champion is None else champion.version,
    }
