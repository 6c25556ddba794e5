"""Reasons: every feature phrased in Chinese and English, strongest first, same in JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from features.builder import FEATURE_NAMES, CaseFeatureBuilder
from features.record import example_case
from models.reasons import ReasonExplainer


@pytest.fixture(scope="module")
def explainer():
    builder = CaseFeatureBuilder().fit([example_case()])
    return builder, ReasonExplainer(builder.get_feature_names_out(), builder.categories_)


def test_every_feature_has_a_phrase_for_every_value_kind(explainer):
    builder, reasons = explainer
    n = len(FEATURE_NAMES)
    for values in (np.full(n, np.nan), np.zeros(n), np.ones(n), np.full(n, 5.0)):
        features = np.tile(values, (n, 1))
        contributions = np.hstack([np.eye(n), np.zeros((n, 1))])  # row i: feature i matters
        explained = reasons.explain(features, contributions, k=1).dicts()
        for i, row in enumerate(explained):
            (reason,) = row
            assert reason["code"].startswith(FEATURE_NAMES[i] + ":")
            assert reason["zh"] and reason["en"]
            assert reason["effect"] == 1.0


def test_reasons_are_the_strongest_contributions_in_order(explainer):
    builder, reasons = explainer
    features = builder.transform_records([example_case()])
    contributions = np.zeros((1, len(FEATURE_NAMES) + 1))
    index = {name: i for i, name in enumerate(FEATURE_NAMES)}
    contributions[0, index["funds_to_claim_log"]] = -0.4
    contributions[0, index["whereabouts_known"]] = 1.2
    contributions[0, index["cause"]] = 0.7
    contributions[0, -1] = 5.0  # the bias is never a reason
    (row,) = reasons.explain(features, contributions, k=3).dicts()
    assert [r["code"].split(":")[0] for r in row] == [
        "whereabouts_known",
        "cause",
        "funds_to_claim_log",
    ]
    assert [r["effect"] for r in row] == [1.2, 0.7, -0.4]
    assert row[1]["zh"] == "案由：民间借贷" and row[1]["en"] == "cause of action: private lending"
    assert row[0]["en"] == "respondent can be reached"


def test_funds_phrases_follow_the_value(explainer):
    _, reasons = explainer
    i = FEATURE_NAMES.index("funds_to_claim_log")
    n = len(FEATURE_NAMES)
    values = [np.nan, 0.0, np.log1p(0.3), np.log1p(1.0), np.log1p(4.0)]
    features = np.zeros((len(values), n))
    features[:, i] = values
    contributions = np.zeros((len(values), n + 1))
    contributions[:, i] = 1.0
    phrases = [row[0]["en"] for row in reasons.explain(features, contributions, k=1).dicts()]
    assert phrases == [
        "not reported by the inquiry (yet)",
        "no deposits or online funds found",
        "funds found fall short of the claim",
        "deposits cover the claim",
        "deposits cover the claim",
    ]


def test_json_rendering_equals_the_dicts(explainer):
    _, reasons = explainer
    rng = np.random.default_rng(0)
    n = len(FEATURE_NAMES)
    features = rng.normal(size=(200, n))
    features[rng.random((200, n)) < 0.2] = np.nan
    contributions = rng.normal(size=(200, n + 1))
    explained = reasons.explain(features, contributions, k=3)
    dicts = explained.dicts()
    assert [json.loads(text) for text in explained.json_lists()] == dicts
    assert all(len(row) == 3 for row in dicts)
    again = reasons.explain(features, contributions, k=3).dicts()
    assert again == dicts
