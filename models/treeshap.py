"""Exact TreeSHAP at about the cost of a prediction, from tables built once per model.

LightGBM's ``pred_contrib`` runs path-dependent TreeSHAP case by case: every
leaf of every tree, with a polynomial over the features on the leaf's path,
O(trees · leaves · depth²) per case.  Yet within one tree a case's
contributions depend on nothing but the way it goes at each split.  So the
contributions can be looked up instead of recomputed:

* Each tree is cut into **groups**: a subtree together with the splits above
  it, small enough that its splits (the group's *key*) number at most
  :data:`KEY_BITS`.  A leaf's part of the contributions depends only on the
  splits on its path, all of them in its group's key, so a group's part is a
  function of the key: a table of ``2**bits`` rows, one column per feature
  split on in the group.
* A case then costs, per group, its decisions at the key's splits (a
  comparison each), the key (a few shifts) and one row read: about what a
  prediction costs, and exactly what TreeSHAP gives (to float rounding,
  checked against ``pred_contrib`` by the tests).

The tables are computed from ``Booster.dump_model`` with the path-dependent
TreeSHAP formula, one leaf at a time but vectorised over every pattern of
the leaf's features: a leaf with value ``v`` whose path splits on features
``P`` (``|P| = d``, repeated features merged), with cover fraction ``z_j`` of
the leaf's side and ``o_j`` = 1 when the case goes the leaf's way at every
split on ``j``, adds to feature ``i`` of ``P``::

    v · (o_i − z_i) · Σ_{S ⊆ P∖{i}} |S|! (d − |S| − 1)! / d! · Π_{j∈S} o_j · Π_{j∈P∖S∖{i}} z_j

(the Shapley value of ``i`` in the game ``S ↦ v · Π_{j∈P} (o_j if j ∈ S else
z_j)``), and the tree's expected value to the bias.  Splits follow
LightGBM's own decisions (``<=`` thresholds, the missing-value direction for
``NaN`` or zero, categorical sets) so that the key is the one LightGBM's
TreeSHAP would walk.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["KEY_BITS", "ShapTables", "default_cache_dir", "tables_for", "top_reasons_agreement"]

#: At most this many splits key a group's table (2**KEY_BITS rows).  A leaf
#: deeper than this has TreeSHAP's leaf formula evaluated per case instead.
KEY_BITS = 10
#: Cases per block at scoring time (bounds the memory of the gathered rows).

#: Cached tables kept on disk (most recently used first); older ones are removed.
CACHE_KEEP = 8

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Splits:
    """Every split of every tree, as arrays (one entry per split)."""

    feature: npt.NDArray[np.int64]
    threshold: npt.NDArray[np.float64]
    default_left: npt.NDArray[np.bool_]
    missing_nan: npt.NDArray[np.bool_]
    missing_zero: npt.NDArray[np.bool_]
    #: For categorical splits: row of ``category_left`` (else -1).
    category_row: npt.NDArray[np.int64]
    #: ``category_left[row, c]``: category ``c`` goes left.
    category_left: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _Groups:
    """Every group's key and table, flat (group g's entries from ``*_start[g]``).

    A group's key starts as ``all_ones[g]``; at each of its steps (one per
    split of the group, with a bit of its own), a case that does not go left
    (``step_left`` is always True here) clears the step's bit: bit = went left.
    """

    step_start: npt.NDArray[np.int64]
    step_split: npt.NDArray[np.int64]
    step_left: npt.NDArray[np.bool_]
    step_bit: npt.NDArray[np.int64]
    all_ones: npt.NDArray[np.int64]
    #: Row r of group g's table is ``values[value_start[g] + r * width[g] :][: width[g]]``.
    value_start: npt.NDArray[np.int64]
    width: npt.NDArray[np.int64]
    #: Feature of each column: ``column_feature[column_start[g] + w]``.
    column_start: npt.NDArray[np.int64]
    column_feature: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    @property
    def nbytes(self) -> int:
        """Memory the tables take."""
        return int(self.values.nbytes)


@dataclass(frozen=True)
class _PathLeaves:
    """Leaves too deep for a table: TreeSHAP's leaf formula is evaluated per case.

    Leaf p's path is steps ``step_start[p]:step_start[p + 1]``; a case that
    does not go the step's way clears bit ``step_slot`` of its pattern (bit j
    is ``o_j`` of the leaf's j-th feature, ``feature[feature_start[p] + j]``,
    whose cover fraction is ``zero[...]``).
    """

    step_start: npt.NDArray[np.int64]
    step_split: npt.NDArray[np.int64]
    step_left: npt.NDArray[np.bool_]
    step_slot: npt.NDArray[np.int64]
    feature_start: npt.NDArray[np.int64]
    feature: npt.NDArray[np.int64]
    zero: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    #: ``weight[d, k] = k! (d − 1 − k)! / d!``: Shapley weight of a coalition of k among d.
    weight: npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShapTables:
    """One booster's TreeSHAP tables: ``contributions`` equals ``pred_contrib``."""

    n_features: int
    bias: float
    splits: _Splits
    groups: _Groups
    path_leaves: _PathLeaves

    @property
    def nbytes(self) -> int:
        """Memory every array of the tables takes."""
        return sum(
            int(getattr(part, f.name).nbytes)
            for part in (self.splits, self.groups, self.path_leaves)
            for f in fields(part)
        )

    def check(self) -> None:
        """Raise ``ValueError`` unless every index the kernel follows stays in its array.

        The compiled loop does not check bounds: tables read from a file are
        checked here before it runs on them.
        """
        splits, groups, leaves = self.splits, self.groups, self.path_leaves
        n_splits = len(splits.feature)
        n_groups = len(groups.all_ones)
        rows = groups.all_ones + 1
        problems = [
            len(splits.threshold) != n_splits or len(splits.category_row) != n_splits,
            bool(n_splits)
            and not 0 <= splits.feature.min() <= splits.feature.max() < self.n_features,
            bool(n_splits) and splits.category_row.max() >= len(splits.category_left),
            len(groups.step_start) != n_groups + 1 or len(groups.column_start) != n_groups + 1,
            groups.step_start[-1] != len(groups.step_split),
            bool(len(groups.step_split))
            and not 0 <= groups.step_split.min() <= groups.step_split.max() < n_splits,
            bool(len(groups.step_bit))
            and not 0 <= groups.step_bit.min() <= groups.step_bit.max() < 62,
            bool(n_groups)
            and (groups.value_start + rows * groups.width).max() > len(groups.values),
            bool(n_groups)
            and (groups.column_start[1:] - groups.column_start[:-1] != groups.width).any(),
            bool(len(groups.column_feature))
            and not 0
            <= groups.column_feature.min()
            <= groups.column_feature.max()
            < self.n_features,
            len(leaves.step_start) != len(leaves.value) + 1
            or len(leaves.feature_start) != len(leaves.value) + 1,
            leaves.step_start[-1] != len(leaves.step_split)
            or leaves.feature_start[-1] != len(leaves.feature),
            bool(len(leaves.step_split))
            and not 0 <= leaves.step_split.min() <= leaves.step_split.max() < n_splits,
            bool(len(leaves.feature))
            and not 0 <= leaves.feature.min() <= leaves.feature.max() < self.n_features,
            len(leaves.zero) != len(leaves.feature),
            bool(len(leaves.value))
            and (leaves.feature_start[1:] - leaves.feature_start[:-1]).max() >= len(leaves.weight),
        ]
        if any(problems):
            raise ValueError("TreeSHAP tables are inconsistent")

    @classmethod
    def of(cls, booster: Any, *, key_bits: int = KEY_BITS) -> ShapTables:
        """The tables of a LightGBM binary classifier or regressor (one tree per iteration).

        Raises ``ValueError`` for a model the tables do not cover (several
        trees per iteration, linear trees).
        """
        dump = booster.dump_model()
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise ValueError("TreeSHAP tables cover one tree per iteration (binary, regression)")
        return _build(dump, key_bits=key_bits)

    def contributions(self, features: Matrix, *, threads: int = 1) -> Matrix:
        """Per-feature contributions and bias of each case (n × F+1, as ``pred_contrib``).

        ``threads`` > 1 splits a large batch across threads (the kernel
        releases the GIL).
        """
        from models import treeshap_kernel

        features = np.ascontiguousarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(
                f"the model takes {self.n_features} features per case, got shape {features.shape}"
            )
        if not features.flags.writeable:  # one compiled signature: writable C arrays
            features = features.copy()
        n = len(features)
        out = np.zeros((n, self.n_features + 1))
        out[:, self.n_features] = self.bias
        splits, groups, leaves = self.splits, self.groups, self.path_leaves
        arguments = (
            splits.feature,
            splits.threshold,
            splits.default_left,
            splits.missing_nan,
            splits.missing_zero,
            splits.category_row,
            splits.category_left,
            groups.step_start,
            groups.step_split,
            groups.step_left,
            groups.step_bit,
            groups.all_ones,
            groups.value_start,
            groups.width,
            groups.column_start,
            groups.column_feature,
            groups.values,
            leaves.step_start,
            leaves.step_split,
            leaves.step_left,
            leaves.step_slot,
            leaves.feature_start,
            leaves.feature,
            leaves.zero,
            leaves.value,
            leaves.weight,
        )
        blocks = _blocks(n, threads)
        if len(blocks) == 1:
            treeshap_kernel.explain(features, 0, n, out, *arguments)
            return out
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(blocks)) as pool:
            for done in [
                pool.submit(treeshap_kernel.explain, features, start, stop, out, *arguments)
                for start, stop in blocks
            ]:
                done.result()
        return out


def _blocks(n: int, threads: int) -> list[tuple[int, int]]:
    """Row ranges for ``threads`` threads; one range when the batch is too small to split."""
    if threads <= 1 or n < 256:
        return [(0, n)]
    edges = np.linspace(0, n, threads + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def default_cache_dir() -> Path:
    """Where built tables are kept: ``$XDG_CACHE_HOME/enforcement-triage/treeshap``.

    The project's entry points point ``XDG_CACHE_HOME`` under ``TRIAGE_HOME``.
    """
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "enforcement-triage" / "treeshap"


def tables_for(booster: Any, *, cache: Path | None = None) -> ShapTables:
    """The tables of ``booster``, read from ``cache`` when built there before.

    Building takes seconds at ``make demo``'s size, reading a few hundredths,
    so a model version's tables are built once per machine: by the first
    command or service worker that gives its reasons.  The file is named by
    a hash of the booster's text, written whole or not at all, and a file
    that does not read back is rebuilt.  An unwritable cache only costs time.
    """
    if cache is None:
        return ShapTables.of(booster)
    text = booster.model_to_string()
    # The code's own hash too: tables built by an older release are never read.
    code = b"".join(Path(module).read_bytes() for module in (__file__, _kernel_file()))
    digest = hashlib.sha256(code + f":{KEY_BITS}:{text}".encode()).hexdigest()[:40]
    path = cache / f"{digest}.npz"
    tables = _read_if_sound(path)
    if tables is not None:
        return tables
    with _building(cache, digest):
        tables = _read_if_sound(path)  # another process may have built it meanwhile
        if tables is not None:
            return tables
        tables = ShapTables.of(booster)
        with contextlib.suppress(OSError):
            _write_tables(tables, path)
            _forget_old(cache)
    return tables


def _kernel_file() -> str:
    from importlib.util import find_spec

    spec = find_spec("models.treeshap_kernel")
    if spec is None or spec.origin is None:
        raise ImportError("models.treeshap_kernel is missing")
    return spec.origin


def _read_if_sound(path: Path) -> ShapTables | None:
    """The tables stored at ``path``, or None when absent, damaged or inconsistent."""
    try:
        tables = _read_tables(path)
        tables.check()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(path)  # most recently used: kept longest
    return tables


@contextlib.contextmanager
def _building(cache: Path, digest: str) -> Iterator[None]:
    """Hold ``<digest>.lock`` while building, so that processes starting together build once.

    Without a lock (an unwritable cache), every process builds for itself.
    """
    try:
        cache.mkdir(parents=True, exist_ok=True)
        handle = open(cache / f"{digest}.lock", "a+b")  # noqa: SIM115 - held across the yield
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def _write_tables(tables: ShapTables, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "n_features": np.int64(tables.n_features),
        "bias": np.float64(tables.bias),
    }
    for part in ("splits", "groups", "path_leaves"):
        arrays |= {
            f"{part}.{f.name}": getattr(getattr(tables, part), f.name)
            for f in fields(getattr(tables, part))
        }
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".tables-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        # mkstemp makes it 0600: the service may run as another user than `triage train`.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o666 & ~umask)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def _read_tables(path: Path) -> ShapTables:
    with np.load(path, allow_pickle=False) as stored:

        def part(name: str) -> dict[str, Any]:
            kind = {"splits": _Splits, "groups": _Groups, "path_leaves": _PathLeaves}[name]
            return {f.name: stored[f"{name}.{f.name}"] for f in fields(kind)}

        return ShapTables(
            n_features=int(stored["n_features"]),
            bias=float(stored["bias"]),
            splits=_Splits(**part("splits")),
            groups=_Groups(**part("groups")),
            path_leaves=_PathLeaves(**part("path_leaves")),
        )


def _forget_old(cache: Path) -> None:
    """Remove all but the :data:`CACHE_KEEP` most recently used tables."""
    # Not the staging files (".tables-…"), which another process may be writing.
    stored = sorted(cache.glob("[0-9a-f]*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stored[CACHE_KEEP:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".lock").unlink(missing_ok=True)


# --- building -----------------------------------------------------------------------------


@dataclass
class _Leaf:
    value: float
    #: (split index, goes left) from the root down.
    path: list[tuple[int, bool]]
    #: Cover fraction of the leaf's side at each step of the path.
    fractions: list[float]


@dataclass
class _Group:
    key: list[int]  # a subtree's group: the splits, in bit order (empty for a deep leaf)
    leaves: list[_Leaf]


def _build(dump: dict[str, Any], *, key_bits: int) -> ShapTables:
    n_features = int(dump["max_feature_idx"]) + 1
    split_rows: list[tuple[int, float, bool, str, int]] = []
    category_sets: list[list[int]] = []
    groups: list[_Group] = []
    bias = 0.0

    def add_split(node: dict[str, Any]) -> int:
        categorical = node["decision_type"] == "=="
        category_row = -1
        threshold = math.inf
        if categorical:
            category_row = len(category_sets)
            category_sets.append([int(c) for c in str(node["threshold"]).split("||")])
        else:
            threshold = float(node["threshold"])
        split_rows.append(
            (
                int(node["split_feature"]),
                threshold,
                bool(node["default_left"]),
                str(node["missing_type"]),
                category_row,
            )
        )
        return len(split_rows) - 1

    for tree in dump["tree_info"]:
        if tree.get("is_linear"):
            raise ValueError("TreeSHAP tables do not cover linear trees")
        root = tree["tree_structure"]
        if "split_feature" not in root:
            bias += float(root["leaf_value"])
            continue
        bias += _expected(root)
        groups += _TreeCutter(root, add_split, key_bits).groups()

    splits = _splits_of(split_rows, category_sets)
    tables, path_leaves = _tables(groups, splits)
    return ShapTables(
        n_features=n_features,
        bias=bias,
        splits=splits,
        groups=tables,
        path_leaves=path_leaves,
    )


def _count(node: dict[str, Any]) -> float:
    """Training cases that reached a node (LightGBM's ``data_count``, TreeSHAP's cover)."""
    return float(node["internal_count"] if "split_feature" in node else node["leaf_count"])


class _TreeCutter:
    """One tree's splits numbered, and the tree cut into groups of at most ``key_bits`` splits."""

    def __init__(self, root: dict[str, Any], add_split: Any, key_bits: int):
        self.root = root
        self.key_bits = key_bits
        self.index: dict[int, int] = {}  # id(node) → split index
        stack = [root]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                self.index[id(node)] = add_split(node)
                stack += [node["right_child"], node["left_child"]]

    def groups(self) -> list[_Group]:
        found: list[_Group] = []
        self._cut(self.root, [], [], found)
        return found

    def _cut(
        self,
        node: dict[str, Any],
        above: list[tuple[int, bool]],
        fractions: list[float],
        found: list[_Group],
    ) -> None:
        inside = self._splits_under(node)
        if "split_feature" not in node and len(above) > self.key_bits:
            # A deep leaf: its 2**depth table would not stay in cache; computed per case.
            found.append(_Group([], self._leaves_under(node, above, fractions)))
        elif len(above) + len(inside) <= self.key_bits or "split_feature" not in node:
            leaves = self._leaves_under(node, above, fractions)
            found.append(_Group([s for s, _ in above] + inside, leaves))
        else:
            split = self.index[id(node)]
            for side, left in (("left_child", True), ("right_child", False)):
                child = node[side]
                self._cut(
                    child,
                    [*above, (split, left)],
                    [*fractions, _count(child) / _count(node)],
                    found,
                )

    def _leaves_under(
        self, node: dict[str, Any], path: list[tuple[int, bool]], fractions: list[float]
    ) -> list[_Leaf]:
        if "split_feature" not in node:
            return [_Leaf(float(node["leaf_value"]), list(path), list(fractions))]
        split = self.index[id(node)]
        found = []
        for side, left in (("left_child", True), ("right_child", False)):
            child = node[side]
            found += self._leaves_under(
                child, [*path, (split, left)], [*fractions, _count(child) / _count(node)]
            )
        return found

    def _splits_under(self, node: dict[str, Any]) -> list[int]:
        found = []
        stack = [node]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                found.append(self.index[id(node)])
                stack += [node["right_child"], node["left_child"]]
        return found


def _expected(root: dict[str, Any]) -> float:
    """The tree's expected value: its leaves' values weighted by their training cases."""
    total = 0.0
    stack = [root]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            stack += [node["left_child"], node["right_child"]]
        else:
            total += float(node["leaf_value"]) * _count(node)
    return total / _count(root)


def _splits_of(rows: list[tuple[int, float, bool, str, int]], sets: list[list[int]]) -> _Splits:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    feature, threshold, default_left, missing, category_row = columns
    width = max((max(s) + 1 for s in sets), default=0)
    category_left = np.zeros((len(sets), width), dtype=bool)
    for row, members in enumerate(sets):
        category_left[row, members] = True
    missing_type = np.asarray(missing, dtype=str)
    return _Splits(
        feature=np.asarray(feature, dtype=np.int64),
        threshold=np.asarray(threshold, dtype=np.float64),
        default_left=np.asarray(default_left, dtype=bool),
        missing_nan=missing_type == "NaN",
        missing_zero=missing_type == "Zero",
        category_row=np.asarray(category_row, dtype=np.int64),
        category_left=category_left,
    )


def _path_features(
    leaf: _Leaf, split_feature: npt.NDArray[np.int64]
) -> tuple[list[int], list[float], list[int]]:
    """A leaf's path as TreeSHAP's players: features in first-split order, their cover
    fractions, and each step's feature slot.  A feature split on twice is one
    player whose fractions multiply (LightGBM's TreeSHAP unwinds it the same way).
    """
    features: list[int] = []
    zero: list[float] = []
    slots: list[int] = []
    for (split, _), fraction in zip(leaf.path, leaf.fractions, strict=True):
        feature = int(split_feature[split])
        if feature in features:
            zero[features.index(feature)] *= fraction
        else:
            features.append(feature)
            zero.append(fraction)
        slots.append(features.index(feature))
    return features, zero, slots


def _leaf_contributions(
    leaves: list[_Leaf], split_feature: npt.NDArray[np.int64]
) -> list[tuple[list[int], Matrix]]:
    """Each leaf's path features and TreeSHAP contributions for every pattern of them.

    The pattern's bit j is ``o_j`` of the leaf's j-th feature (in first-split
    order); the contributions are a (2**d × d) array.  Leaves are batched by d.
    """
    prepared = [_path_features(leaf, split_feature)[:2] for leaf in leaves]
    tables: list[Matrix] = [np.empty((0, 0))] * len(leaves)  # each filled by its size's batch
    by_size: dict[int, list[int]] = {}
    for at, (features, _) in enumerate(prepared):
        by_size.setdefault(len(features), []).append(at)
    for d, members in by_size.items():
        # In chunks: a batch holds a few arrays of chunk × 2**d × (d + 1) floats.
        for first in range(0, len(members), 256):
            chunk = members[first : first + 256]
            zeros = np.array([prepared[at][1] for at in chunk]).reshape(len(chunk), d)
            values = np.array([leaves[at].value for at in chunk])
            phi = _shapley_of_leaves(zeros, values)
            for row, at in enumerate(chunk):
                tables[at] = phi[row]
    return [(features, table) for (features, _), table in zip(prepared, tables, strict=True)]


def _tables(groups: list[_Group], splits: _Splits) -> tuple[_Groups, _PathLeaves]:
    """Each group's key steps and table (every key's contributions), laid out flat."""
    tabled = [group for group in groups if group.key]
    leaf_tables = iter(
        _leaf_contributions([leaf for group in tabled for leaf in group.leaves], splits.feature)
    )
    steps: list[tuple[int, bool, int]] = []
    step_start, all_ones, value_start, width, column_start = [0], [], [], [], [0]
    column_feature: list[int] = []
    values: list[Matrix] = []
    at = 0
    for group in tabled:
        bits = len(group.key)
        position = {split: bit for bit, split in enumerate(group.key)}
        steps += [(split, True, bit) for bit, split in enumerate(group.key)]
        columns = list(dict.fromkeys(int(splits.feature[s]) for s in group.key))
        column_of = {feature: c for c, feature in enumerate(columns)}
        keys = np.arange(2**bits, dtype=np.int64)
        table = np.zeros((2**bits, len(columns)))
        for leaf in group.leaves:
            features, phi = next(leaf_tables)
            slot = {feature: j for j, feature in enumerate(features)}
            pattern = np.full(2**bits, 2 ** len(features) - 1, dtype=np.int64)
            for split, goes_left in leaf.path:
                went_left = (keys >> position[split]) & 1
                away = went_left != int(goes_left)
                pattern &= ~(away.astype(np.int64) << slot[int(splits.feature[split])])
            table[:, [column_of[f] for f in features]] += phi[pattern]
        step_start.append(len(steps))
        all_ones.append(2**bits - 1)
        value_start.append(at)
        width.append(len(columns))
        column_feature += columns
        column_start.append(len(column_feature))
        values.append(table.ravel())
        at += table.size
    step_split, step_left, step_bit = zip(*steps, strict=True) if steps else ((), (), ())
    tables = _Groups(
        step_start=np.asarray(step_start, dtype=np.int64),
        step_split=np.asarray(step_split, dtype=np.int64),
        step_left=np.asarray(step_left, dtype=bool),
        step_bit=np.asarray(step_bit, dtype=np.int64),
        all_ones=np.asarray(all_ones, dtype=np.int64),
        value_start=np.asarray(value_start, dtype=np.int64),
        width=np.asarray(width, dtype=np.int64),
        column_start=np.asarray(column_start, dtype=np.int64),
        column_feature=np.asarray(column_feature, dtype=np.int64),
        values=np.concatenate(values) if values else np.zeros(0),
    )
    deep = [leaf for group in groups if not group.key for leaf in group.leaves]
    return tables, _path_leaves(deep, splits.feature)


def _path_leaves(leaves: list[_Leaf], split_feature: npt.NDArray[np.int64]) -> _PathLeaves:
    """The deep leaves' paths, features and cover fractions, flat."""
    steps: list[tuple[int, bool, int]] = []
    step_start, feature_start = [0], [0]
    features: list[int] = []
    zero: list[float] = []
    for leaf in leaves:
        own, own_zero, slots = _path_features(leaf, split_feature)
        steps += [(split, left, slot) for (split, left), slot in zip(leaf.path, slots, strict=True)]
        features += own
        zero += own_zero
        step_start.append(len(steps))
        feature_start.append(len(features))
    widest = max(np.diff(feature_start), default=0)
    if widest > 62:  # the kernel's pattern is a 64-bit integer, one bit per feature
        raise ValueError(f"a leaf's path splits on {widest} features: over 62, the tables' limit")
    deepest = max((len(leaf.path) for leaf in leaves), default=0) + 1
    weight = np.zeros((deepest + 1, deepest + 1))
    for d in range(1, deepest + 1):
        for k in range(d):
            weight[d, k] = math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d)
    step_split, step_left, step_slot = zip(*steps, strict=True) if steps else ((), (), ())
    return _PathLeaves(
        step_start=np.asarray(step_start, dtype=np.int64),
        step_split=np.asarray(step_split, dtype=np.int64),
        step_left=np.asarray(step_left, dtype=bool),
        step_slot=np.asarray(step_slot, dtype=np.int64),
        feature_start=np.asarray(feature_start, dtype=np.int64),
        feature=np.asarray(features, dtype=np.int64),
        zero=np.asarray(zero, dtype=np.float64),
        value=np.asarray([leaf.value for leaf in leaves], dtype=np.float64),
        weight=weight,
    )


def _patterns(d: int) -> npt.NDArray[np.float64]:
    """All 2**d patterns of d bits (row p, column j = bit j of p)."""
    return ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(np.float64)


def _shapley_of_leaves(zero: Matrix, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Contributions (m × 2**d × d) of m leaves with d features each, for every pattern.

    Coefficient k of ``Π_j (z_j + o_j t)`` sums, over coalitions of k features
    the case agrees with, the other features' z: built once, then each
    feature's own factor is divided out (from the top, where each step scales
    rounding errors by z ≤ 1), as the kernel does for deep leaves.
    """
    m, d = zero.shape
    ones = _patterns(d)  # 2**d × d
    weights = np.array(
        [math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d) for k in range(d)]
    )
    whole = np.zeros((m, 2**d, d + 1))
    whole[..., 0] = 1.0
    for j in range(d):
        shifted = whole[..., :-1] * ones[None, :, j, None]
        whole *= zero[:, None, j, None]
        whole[..., 1:] += shifted
    phi = np.empty((m, 2**d, d))
    without = np.empty((m, 2**d, d))
    for i in range(d):
        z = zero[:, None, i]
        without[..., d - 1] = whole[..., d]
        for k in range(d - 1, 0, -1):
            without[..., k - 1] = whole[..., k] - z * without[..., k]
        # Sums, not BLAS products: the same bits on every machine that builds them.
        agreeing = values[:, None] * (1.0 - z) * (without * weights).sum(axis=-1)
        # Not agreeing on i: its factor is z_i alone, and (0 − z_i) / z_i = −1.
        disagreeing = -values[:, None] * (whole[..., :d] * weights).sum(axis=-1)
        phi[..., i] = np.where(ones[None, :, i] == 1, agreeing, disagreeing)
    return phi


def top_reasons_agreement(
    contributions: Matrix, reference: Matrix, *, n_features: int, k: int = 3
) -> float:
    """Share of cases whose top-``k`` reasons — features and signs — are the same in both.

    Reasons are the ``k`` largest contributions by magnitude (ties broken by
    feature order, as :meth:`models.reasons.ReasonExplainer.explain` breaks
    them); their order among the ``k`` does not count, their signs do.
    """
    if len(reference) == 0:
        return float("nan")

    def top(values: Matrix) -> npt.NDArray[np.int64]:
        effects = values[:, :n_features]
        order = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :k]
        signs = np.take_along_axis(effects, order, axis=1) >= 0
        # One code per (feature, sign); sorting makes the k of a case a set.
        return np.sort(order * 2 + signs, axis=1)

    return float(np.mean(np.all(top(contributions) == top(reference), axis=1)))
