"""Identification from a handful of user labels: the library's "unknown" distance for an
appliance with a few labels is chosen by the training folds' learning curve on every
set, not only where the joint decoding runs; the one for an appliance with dozens by the
folds' power figures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from wattwise.analysis.nilm.evaluate import (
    SetSpec,
    Settings,
    choose_library,
    choose_settings,
    evaluate_model,
    fit_model,
    holdout_split,
    learning_curve,
    relative_mae,
    tuned,
)


def _fold_curve(refit_set: SetSpec, settings: Settings) -> float:
    folds = [holdout_split(refit_set, k) for k in (0, 1)]
    models = [fit_model(f)[0] for f in folds]
    return float(
        np.mean(
            [
                v["macro_f1"]
                for f, m in zip(folds, models, strict=True)
                for v in learning_curve(f, tuned(m, f, settings), (1, 3, 5, 10), (0, 1, 2)).values()
            ]
        )
    )


def _fold_power(refit_set: SetSpec, settings: Settings) -> float:
    folds = [holdout_split(refit_set, k) for k in (0, 1)]
    models = [fit_model(f)[0] for f in folds]
    return float(
        np.mean([relative_mae(f, evaluate_model(f, tuned(m, f, settings))) for f, m in zip(folds, models, strict=True)])
    )


def test_a_house_with_unmetered_loads_gets_the_unknown_distance_its_folds_learn_best_with(
    refit_set: SetSpec,
) -> None:
    assert fit_model(refit_set)[0].states is None  # no joint decoding on this evening
    chosen = choose_settings(refit_set)
    curves = {r: _fold_curve(refit_set, replace(chosen, few_label_sigma=r)) for r in (3.0, 5.0, 8.0)}
    assert curves[chosen.few_label_sigma] == max(curves.values())
    assert chosen.q_noise_factor == 1.0  # REFIT gives no reactive power: nothing to scale


def test_the_few_label_and_the_many_label_distances_are_chosen_by_their_own_figures(refit_set: SetSpec) -> None:
    folds = [holdout_split(refit_set, k) for k in (0, 1)]
    sigmas = (2.0, 3.0)
    chosen = choose_library(folds, [fit_model(f)[0] for f in folds], Settings(), sigmas)
    curves = {r: _fold_curve(refit_set, replace(chosen, few_label_sigma=r)) for r in sigmas}
    powers = {r: _fold_power(refit_set, replace(chosen, reject_sigma=r)) for r in sigmas}
    assert curves[chosen.few_label_sigma] == max(curves.values())
    assert powers[chosen.reject_sigma] == min(powers.values())
    # on this evening the two criteria disagree: one distance could not serve both
    assert chosen.reject_sigma != chosen.few_label_sigma


def test_five_labels_per_appliance_name_most_of_a_real_refit_evening(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    folds = [holdout_split(refit_set, k) for k in (0, 1)]
    settings = choose_library(folds, [fit_model(f)[0] for f in folds], Settings())
    curve = learning_curve(refit_set, tuned(model, refit_set, settings), (0, 5), (0, 1, 2))
    assert curve[0]["macro_f1"] == 0.0  # an empty library names nothing
    assert curve[5]["macro_f1"] >= 0.45
