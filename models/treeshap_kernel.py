"""The compiled loop of :mod:`models.treeshap`: read each case's rows of the tables.

Kept apart so that importing :mod:`models.treeshap` (and building tables)
does not import Numba; the first call compiles, or loads the compilation
cached beside this file.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["explain"]

#: LightGBM's ``kZeroThreshold``: this close to zero is zero for ``missing_type=Zero``.
_ZERO = float(np.float32(1e-35))  # a C++ float, widened as LightGBM compares it
#: Rows per block: a block's decisions (splits × BLOCK bytes) stay in cache.
BLOCK = 64


@numba.njit(nogil=True, cache=True)
def explain(
    features: np.ndarray,
    start: int,
    stop: int,
    out: np.ndarray,
    split_feature: np.ndarray,
    threshold: np.ndarray,
    default_left: np.ndarray,
    missing_nan: np.ndarray,
    missing_zero: np.ndarray,
    category_row: np.ndarray,
    category_left: np.ndarray,
    step_start: np.ndarray,
    step_split: np.ndarray,
    step_left: np.ndarray,
    step_bit: np.ndarray,
    all_ones: np.ndarray,
    value_start: np.ndarray,
    width: np.ndarray,
    column_start: np.ndarray,
    column_feature: np.ndarray,
    values: np.ndarray,
    leaf_step_start: np.ndarray,
    leaf_step_split: np.ndarray,
    leaf_step_left: np.ndarray,
    leaf_step_slot: np.ndarray,
    leaf_feature_start: np.ndarray,
    leaf_feature: np.ndarray,
    leaf_zero: np.ndarray,
    leaf_value: np.ndarray,
    weight: np.ndarray,
) -> None:
    """Add rows ``start:stop``'s contributions into ``out`` (n × F+1, bias preset).

    Rows go in blocks of :data:`BLOCK`, and within a block group by group:
    a group's table is read for every row of the block while it is in cache,
    and the loops over rows are contiguous (decisions are kept split-major).
    """
    n_splits = split_feature.shape[0]
    n_groups = all_ones.shape[0]
    n_categories = category_left.shape[1]
    n_leaves = leaf_value.shape[0]
    left = np.empty((n_splits, BLOCK), dtype=np.bool_)
    keys = np.empty(BLOCK, dtype=np.int64)
    # Coefficients of Π_j (z_j + o_j t) and of it without one factor.
    whole = np.empty(weight.shape[0] + 1)
    without = np.empty(weight.shape[0] + 1)
    for block in range(start, stop, BLOCK):
        rows = min(BLOCK, stop - block)
        # LightGBM's decision at every split (Tree::NumericalDecision, CategoricalDecision).
        for split in range(n_splits):
            feature = split_feature[split]
            row_of_set = category_row[split]
            for r in range(rows):
                value = features[block + r, feature]
                if row_of_set >= 0:  # categorical: NaN, negative and unseen codes go right
                    if np.isnan(value):
                        left[split, r] = False
                        continue
                    code = int(value)  # C++ truncation toward zero
                    left[split, r] = 0 <= code < n_categories and category_left[row_of_set, code]
                    continue
                if np.isnan(value):
                    if missing_nan[split]:
                        left[split, r] = default_left[split]
                        continue
                    value = 0.0
                if missing_zero[split] and abs(value) <= _ZERO:
                    left[split, r] = default_left[split]
                    continue
                left[split, r] = value <= threshold[split]
        for group in range(n_groups):
            for r in range(rows):
                keys[r] = all_ones[group]
            for step in range(step_start[group], step_start[group + 1]):
                split = step_split[step]
                way = step_left[step]
                bit = step_bit[step]
                # Branch-free: a case's way at a split is a coin toss to the predictor.
                for r in range(rows):
                    keys[r] &= ~(np.int64(left[split, r] != way) << bit)
            first = column_start[group]
            columns = width[group]
            for r in range(rows):
                base = value_start[group] + keys[r] * columns
                for w in range(columns):
                    out[block + r, column_feature[first + w]] += values[base + w]
        for leaf in range(n_leaves):
            first = leaf_feature_start[leaf]
            d = leaf_feature_start[leaf + 1] - first
            value = leaf_value[leaf]
            for r in range(rows):
                pattern = np.int64(-1)
                for step in range(leaf_step_start[leaf], leaf_step_start[leaf + 1]):
                    pattern &= ~(
                        np.int64(left[leaf_step_split[step], r] != leaf_step_left[step])
                        << leaf_step_slot[step]
                    )
                # Coefficient k sums, over coalitions of k features the case
                # agrees with, the products of the other features' z.
                whole[0] = 1.0
                degree = 0
                for j in range(d):
                    z = leaf_zero[first + j]
                    if (pattern >> j) & 1:
                        whole[degree + 1] = whole[degree]
                        for k in range(degree, 0, -1):
                            whole[k] = whole[k] * z + whole[k - 1]
                        whole[0] *= z
                        degree += 1
                    else:
                        for k in range(degree + 1):
                            whole[k] *= z
                for i in range(d):
                    z = leaf_zero[first + i]
                    total = 0.0
                    if (pattern >> i) & 1:
                        # Divide out (z + t), from the top (each step scales errors by z ≤ 1).
                        without[degree - 1] = whole[degree]
                        for k in range(degree - 1, 0, -1):
                            without[k - 1] = whole[k] - z * without[k]
                        for k in range(degree):
                            total += weight[d, k] * without[k]
                        out[block + r, leaf_feature[first + i]] += value * (1.0 - z) * total
                    else:
                        for k in range(degree + 1):
                            total += weight[d, k] * whole[k]
                        out[block + r, leaf_feature[first + i]] -= value * total
