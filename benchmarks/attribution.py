"""Path attribution (Saabas): per-feature contributions from leaf indices, and how far
they agree with exact TreeSHAP on the reasons a clerk reads.

Served reasons come from LightGBM's exact TreeSHAP (``pred_contrib``), which
costs O(trees · leaves · depth²) per case.  Path attribution costs about one
prediction: each leaf's contributions are fixed once the tree is, so a table
of them (one row per leaf: the change in the node's expected value at every
split on the leaf's path, credited to the split's feature) is built once per
model version and a batch needs only ``pred_leaf`` and a sparse sum of rows.

It is *not* what reasons use, because it does not pick the same reasons: on
the models ``make demo`` trains, its top three (features and signs) equal
TreeSHAP's on about 60 % of cases (70–80 % on small models), short of the
95 % a clerk could trust.  Its differences are systematic (it credits the
splits near a tree's root), so they add up over trees rather than cancel:
exact TreeSHAP on the first half of the trees plus path attribution on the
rest still agrees on only 93 %.  It stays here for ``make bench`` to measure its cost
and that agreement against every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["PathAttribution", "top_reasons_agreement"]

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PathAttribution:
    """One booster's leaf table: contributions of every leaf, computed once.

    ``table`` has one row per leaf of every tree (trees in order, leaves by
    LightGBM's leaf index) and ``n_features + 1`` columns laid out like
    ``pred_contrib``: the features, then the bias (the tree's expected value,
    weighted by the training cases in each leaf as TreeSHAP weighs them).
    A leaf's row adds up to its value, so a case's contributions add up to
    its raw score.
    """

    table: sp.csr_matrix
    leaf_offsets: npt.NDArray[np.int64]
    n_features: int

    @classmethod
    def of(cls, booster: lgb.Booster) -> PathAttribution:
        """The leaf table of ``booster`` (one walk over ``dump_model``)."""
        dump = booster.dump_model()
        n_features = int(dump["max_feature_idx"]) + 1
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        offsets: list[int] = []
        first_leaf = 0
        for tree in dump["tree_info"]:
            offsets.append(first_leaf)
            root = tree["tree_structure"]
            expected = _expected_values(root)
            bias = expected[id(root)]
            # (node, contributions accumulated on the way to it), depth first.
            stack: list[tuple[dict[str, Any], dict[int, float]]] = [(root, {})]
            while stack:
                node, path = stack.pop()
                if "split_feature" not in node:
                    leaf = first_leaf + int(node.get("leaf_index", 0))
                    for feature, change in path.items():
                        rows.append(leaf)
                        columns.append(feature)
                        values.append(change)
                    rows.append(leaf)
                    columns.append(n_features)
                    values.append(bias)
                    continue
                feature = int(node["split_feature"])
                for side in ("left_child", "right_child"):
                    child = node[side]
                    change = expected[id(child)] - expected[id(node)]
                    stack.append((child, path | {feature: path.get(feature, 0.0) + change}))
            first_leaf += int(tree["num_leaves"])
        table = sp.csr_matrix(
            (values, (rows, columns)), shape=(first_leaf, n_features + 1), dtype=np.float64
        )
        return cls(table, np.asarray(offsets, dtype=np.int64), n_features)

    def contributions(self, booster: lgb.Booster, features: Matrix, *, threads: int = 1) -> Matrix:
        """Per-feature contributions and bias of each case (n × F+1, as ``pred_contrib``)."""
        leaves = np.asarray(booster.predict(features, pred_leaf=True, num_threads=threads))
        return self.from_leaves(leaves.reshape(len(features), -1))

    def from_leaves(self, leaves: npt.NDArray[Any]) -> Matrix:
        """Contributions of cases given their leaf index in every tree (``pred_leaf``)."""
        n, trees = leaves.shape
        rows = sp.csr_matrix(
            (
                np.ones(n * trees),
                (leaves.astype(np.int64) + self.leaf_offsets).ravel(),
                np.arange(0, n * trees + 1, trees),
            ),
            shape=(n, self.table.shape[0]),
        )
        return np.asarray((rows @ self.table).toarray())


def _expected_values(root: dict[str, Any]) -> dict[int, float]:
    """Each node's expected output, by ``id``: its leaves' values weighted by their cases."""
    expected: dict[int, float] = {}
    counts: dict[int, float] = {}

    def visit(node: dict[str, Any]) -> None:
        if "split_feature" not in node:
            expected[id(node)] = float(node["leaf_value"])
            counts[id(node)] = float(node.get("leaf_count", 0))
            return
        left, right = node["left_child"], node["right_child"]
        visit(left)
        visit(right)
        total = counts[id(left)] + counts[id(right)]
        if total > 0:
            value = (
                expected[id(left)] * counts[id(left)] + expected[id(right)] * counts[id(right)]
            ) / total
        else:  # a tree loaded without counts: both sides alike
            value = (expected[id(left)] + expected[id(right)]) / 2
        expected[id(node)] = value
        counts[id(node)] = total

    visit(root)
    return expected


def top_reasons_agreement(
    approximate: Matrix, exact: Matrix, *, n_features: int, k: int = 3
) -> float:
    """Share of cases whose top-``k`` reasons — features and signs — are the same in both.

    Reasons are the ``k`` largest contributions by magnitude (ties broken by
    feature order, as :meth:`models.reasons.ReasonExplainer.explain` breaks
    them); their order among the ``k`` does not count, their signs do.
    """
    if len(exact) == 0:
        return float("nan")

    def top(contributions: Matrix) -> npt.NDArray[np.int64]:
        effects = contributions[:, :n_features]
        order = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :k]
        signs = np.take_along_axis(effects, order, axis=1) >= 0
        # One code per (feature, sign); sorting makes the k of a case a set.
        return np.sort(order * 2 + signs, axis=1)

    return float(np.mean(np.all(top(approximate) == top(exact), axis=1)))
