"""Fitted forests kept as only what scoring needs: scikit-learn's very numbers, a fraction of the memory.

Each meter's live anomaly model holds a forest of 100 trees. A fitted scikit-learn
``IsolationForest`` keeps, per node, 64 bytes of C struct (impurity, sample counts …) plus
two float64 arrays of path lengths, and per tree an estimator object with its parameters:
about 0.8 MB for three days of history, 1 MB of RSS once loaded (``bench/detectors.py
--memory``), which made a utility's 10,000 meters 10 GB. Scoring reads only each node's
feature, threshold and children, and at each leaf the path length scikit-learn adds.

:class:`CompactForest` keeps those, for all trees in one set of flat arrays in the narrowest
dtypes that change nothing: children as the narrowest unsigned integer that numbers every node
(``uint16`` for 100 trees of at most 511 nodes), the
feature as ``uint8``, the threshold as ``float32`` rounded down — the trees compare a
``float32`` value ``x`` with a ``float64`` threshold ``t``, and ``x <= t`` exactly when ``x``
is at most the largest ``float32`` not above ``t`` — and each leaf's ``depth + average path
length − 1``, the very ``float64`` scikit-learn adds, as an index (``uint8``) into the forest's
few distinct such terms (117 for 4,563 leaves of a household's forest). A leaf points to itself, so every
row walks every tree at once, one level per step, instead of one call into scikit-learn per
tree (which also made one reading's score cost 12 ms through joblib's dispatch per tree:
docs/detectors.md). The leaves' terms are added tree after tree in the forest's order, as
scikit-learn adds them, so each score is bit for bit ``score_samples``'
(``tests/analysis/test_forest_scores.py``, on random and on real fixture data).

The theft detector's ``RandomForestClassifier`` (200 trees, per meter too) is kept the same way
(:class:`CompactClassifier`): its leaves hold each one's share of theft, added tree after tree
and divided by the number of trees, as ``predict_proba`` does. Both walk :class:`CompactTrees`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.ensemble._iforest import _average_path_length
from sklearn.tree._tree import Tree


def _narrowest(largest: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds 0 … ``largest``."""
    return np.min_scalar_type(max(largest, 0))


def _rounded_down(threshold: np.ndarray) -> np.ndarray:
    """Each ``float64`` threshold as the largest ``float32`` at or below it: for any ``float32``
    value, ``value <= threshold`` is then the same comparison as against the original."""
    narrow = threshold.astype(np.float32)
    above = narrow.astype(np.float64) > threshold
    narrow[above] = np.nextafter(narrow[above], np.float32(-np.inf))
    return narrow


@dataclass(frozen=True, slots=True)
class CompactTrees:
    """Fitted scikit-learn trees, flat: node ``i`` of the whole forest has ``feature[i]``,
    ``threshold[i]``, ``left[i]``, ``right[i]`` (a leaf: itself) and, at a leaf, the term
    ``leaf_terms[leaf_term[i]]`` its forest adds for it; tree ``t`` starts at ``roots[t]``."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    #: True where a missing value (NaN) goes left; None when no node sends it left (then,
    #: as ``NaN <= t`` is false, it goes right, as scikit-learn sends it)
    nan_left: np.ndarray | None
    leaf_term: np.ndarray
    leaf_terms: np.ndarray  # float64, each distinct term once
    roots: np.ndarray
    steps: int  # the deepest leaf's depth: after this many steps every row is at its leaf
    n_features: int

    @classmethod
    def of(
        cls, trees: list[Tree], terms: list[np.ndarray], n_features: int, used: list[np.ndarray] | None = None
    ) -> CompactTrees:
        """``trees`` with each one's ``terms`` (one per node, read at its leaves); ``used``: the
        features each tree was given, when each was given a subset of them."""
        sizes = [tree.node_count for tree in trees]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        features, thresholds, lefts, rights, nan_lefts, leaf_terms = [], [], [], [], [], []
        for n, (tree, start, term) in enumerate(zip(trees, starts, terms, strict=True)):
            own = start + np.arange(tree.node_count, dtype=np.int64)
            leaf = tree.children_left < 0
            feature = np.where(leaf, 0, tree.feature)
            features.append(feature if used is None else np.asarray(used[n])[feature])
            thresholds.append(_rounded_down(np.where(leaf, 0.0, tree.threshold)))
            lefts.append(np.where(leaf, own, start + tree.children_left))
            rights.append(np.where(leaf, own, start + tree.children_right))
            nan_lefts.append(~leaf & (tree.missing_go_to_left != 0))
            leaf_terms.append(np.where(leaf, term, 0.0))
        index = _narrowest(int(sum(sizes)) - 1)
        nan_left = np.concatenate(nan_lefts)
        distinct, term_index = np.unique(np.concatenate(leaf_terms), return_inverse=True)
        return cls(
            feature=np.concatenate(features).astype(_narrowest(n_features - 1)),
            threshold=np.concatenate(thresholds),
            left=np.concatenate(lefts).astype(index),
            right=np.concatenate(rights).astype(index),
            nan_left=nan_left if nan_left.any() else None,
            leaf_term=term_index.astype(_narrowest(distinct.size - 1)),
            leaf_terms=distinct,
            roots=starts.astype(index),
            steps=max((int(tree.max_depth) for tree in trees), default=0),
            n_features=n_features,
        )

    def leaf_sums(self, matrix: np.ndarray) -> np.ndarray:
        """For each row, the terms of the leaves it reaches, added tree after tree in the
        forest's order, as scikit-learn adds them (a pairwise sum would round differently)."""
        x = np.asarray(matrix, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            shape = "×".join(str(n) for n in x.shape)
            raise ValueError(f"the forest scores rows of {self.n_features} features; got an array of shape {shape}")
        if not self.roots.size:
            return np.zeros(len(x))
        rows = np.arange(x.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.size))
        for _ in range(self.steps):
            value = x[rows, self.feature[node]]
            left = value <= self.threshold[node]
            if self.nan_left is not None:
                left |= np.isnan(value) & self.nan_left[node]
            node = np.where(left, self.left[node], self.right[node])
        sums: np.ndarray = np.add.accumulate(self.leaf_terms[self.leaf_term[node]], axis=1)[:, -1]
        return sums


@dataclass(frozen=True, slots=True)
class CompactForest:
    """What scoring needs of a fitted ``IsolationForest``: its trees, each leaf's path length."""

    trees: CompactTrees
    denominator: float  # trees × the average path length of ``max_samples_`` points

    @classmethod
    def of(cls, forest: IsolationForest) -> CompactForest:
        """What scoring needs of a fitted forest (with the scikit-learn it was fitted with)."""
        trees = [estimator.tree_ for estimator in forest.estimators_]
        # the term scikit-learn adds at a leaf, in its own order of operations
        terms = [tree.compute_node_depths() + _average_path_length(tree.n_node_samples) - 1.0 for tree in trees]
        # scikit-learn hands each tree only its own features when it drew a subset of them
        subsample = forest._max_features != forest.n_features_in_
        used = list(forest.estimators_features_) if subsample else None
        return cls(
            trees=CompactTrees.of(trees, terms, int(forest.n_features_in_), used),
            denominator=float(len(trees) * _average_path_length([forest._max_samples])[0]),
        )

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """``forest.score_samples(matrix)``: the lower, the more abnormal."""
        depths = self.trees.leaf_sums(matrix)
        denominator = self.denominator
        # for a single training sample, denominator and depth are 0: the score is 1 (as scikit-learn sets it)
        scores: np.ndarray = 2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0))
        return -scores


@dataclass(frozen=True, slots=True)
class CompactClassifier:
    """What the theft detector needs of a fitted ``RandomForestClassifier``: its trees, each
    leaf's share of one class (``predict_proba``'s column of that class)."""

    trees: CompactTrees
    n_trees: int

    @classmethod
    def of(cls, forest: RandomForestClassifier, label: int) -> CompactClassifier:
        """The forest's probability of ``label``, one of the classes it was fitted on."""
        classes = forest.classes_.tolist()
        if label not in classes:
            raise ValueError(f"the forest was fitted on classes {classes}; it gives no probability of {label}")
        k = classes.index(label)
        trees = [estimator.tree_ for estimator in forest.estimators_]
        # a leaf's value is its share of each class (weighted): what each tree's predict_proba gives
        terms = [np.asarray(tree.value[:, 0, k], dtype=np.float64) for tree in trees]
        return cls(trees=CompactTrees.of(trees, terms, int(forest.n_features_in_)), n_trees=len(trees))

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        """``forest.predict_proba(matrix)[:, classes.index(label)]``: the trees' shares, added
        in order, over the number of trees."""
        return self.trees.leaf_sums(matrix) / self.n_trees
