"""``IsolationForest.score_samples``, the very same numbers, without a dispatch per tree.

scikit-learn scores a matrix by handing each of the forest's trees to joblib as a task of
its own, and each task copies the library's configuration and warning filters before it
runs. For a few thousand rows that is nothing; the live detectors score a meter's few new
readings at a time, often one, and there the dispatch was most of the cost: 100 trees,
12 ms for one reading (bench/detectors.py, docs/detectors.md). This walks the same trees
in the same order and adds the same terms in the same order, so every score is bit for bit
the one ``score_samples`` gives (``tests/analysis/test_forest_scores.py``); a forest without
the fitted attributes it reads (another scikit-learn) is scored by ``score_samples`` itself.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length


def forest_scores(forest: IsolationForest, matrix: np.ndarray) -> np.ndarray:
    """``forest.score_samples(matrix)``: the lower, the more abnormal."""
    try:
        path_lengths = forest._decision_path_lengths
        average_lengths = forest._average_path_length_per_tree
        max_samples = forest._max_samples
        max_features = forest._max_features
    except AttributeError:
        return np.asarray(forest.score_samples(matrix))
    x = np.asarray(matrix, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != forest.n_features_in_:
        return np.asarray(forest.score_samples(matrix))  # its own error names what is wrong
    subsample = max_features != x.shape[1]
    depths = np.zeros(int(x.shape[0]), order="F")
    trees = zip(forest.estimators_, forest.estimators_features_, path_lengths, average_lengths, strict=True)
    for tree, features, lengths, averages in trees:
        leaves = tree.tree_.apply(x[:, features] if subsample else x)
        depths += lengths[leaves] + averages[leaves] - 1.0
    denominator = len(forest.estimators_) * _average_path_length([max_samples])
    # for a single training sample, denominator and depth are 0: the score is 1 (as scikit-learn sets it)
    scores: np.ndarray = 2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0))
    return -scores
