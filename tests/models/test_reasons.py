"""Reasons: every feature phrased in Chinese and English, strongest first, same in JSON."""

from __future__ import annotations

import json
import pickle

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


def test_an_explainer_travels_by_plain_pickle_and_explains_the_same(explainer):
    """Dask ships a model to its workers pickled: the rules must not need cloudpickle.

    A closure among the rules made Dask fall back to cloudpickle, which copies
    a closure's code and globals by value; what those reached could hold a lock,
    and then the whole model failed to travel and `triage score --cluster` waited
    forever.  Plain pickle refers to every rule's class by name.
    """
    builder, reasons = explainer
    n = len(FEATURE_NAMES)
    rng = np.random.default_rng(0)
    features = np.vstack([np.full(n, np.nan), np.zeros(n), rng.uniform(-1, 40, size=(30, n))])
    contributions = rng.normal(size=(len(features), n + 1))
    travelled = pickle.loads(pickle.dumps(reasons))  # plain pickle: no closure may be in it
    assert (
        travelled.explain(features, contributions).json_lists()
        == reasons.explain(features, contributions).json_lists()
    )
    assert len(pickle.dumps(reasons)) < 100_000  # rules by name, not code by value


def test_terminated_rules_travel_by_plain_pickle_too():
    from models.reasons import TERMINATED_RULES

    for name, (rule, phrases) in TERMINATED_RULES.items():
        again = pickle.loads(pickle.dumps(rule))
        values = np.array([np.nan, -1.0, 0.0, 0.5, 1.0, 3.0, 50.0, 1e6])
        assert np.array_equal(again(values), rule(values)), name
        assert int(rule(values).max()) < len(phrases), name  # every bucket has its phrase
