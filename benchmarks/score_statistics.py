"""The statistics of the benchmark reports: pure functions of (runs, tasks) score matrices, e.g. (seeds, envs).

As Agarwal et al. (NeurIPS 2021, "Deep RL at the edge of the statistical precipice") recommend for a handful of
seeds and as their library ``rliable`` computes them:

- the interquartile mean (IQM, the mean of the middle 50% of the runs, ``rliable.metrics.aggregate_iqm``)
  of the normalised final score (0 = random policy, 100 = demonstrator), per env and over envs (all runs of
  all envs pooled, each env a stratum);
- 95% percentile confidence intervals from a stratified bootstrap: the seeds of each env are resampled with
  replacement, ``BOOTSTRAP_REPS`` times, separately for each method (rliable's ``StratifiedBootstrap`` and
  ``StratifiedIndependentBootstrap``, vectorised here: ``rliable.library`` goes through ``arch``, whose
  versions that rliable 1.2 allows fail to import with pandas 3);
- the probability of improvement P(X > Y): the chance that a run of X beats a run of Y on the same env,
  averaged over envs (``rliable.metrics.probability_of_improvement``), with its bootstrap CI.

With one seed there is nothing to resample: the CI is reported as undefined, never as a zero-width interval.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rliable import metrics
from scipy.stats import trim_mean

BOOTSTRAP_REPS = 10_000  # bootstrap resamples per confidence interval
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0  # the same records always give the same intervals

Interval = tuple[float, float] | None  # a 95% CI; None where it is undefined (fewer than 2 seeds)


def _resample(scores: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    """Stratified bootstrap: the runs of each task (env) drawn with replacement, ``reps`` times.

    :param scores: (runs, tasks, ...) scores
    :return: (reps, runs, tasks, ...)
    """
    runs, tasks = scores.shape[:2]
    rows = rng.integers(0, runs, size=(reps, runs, tasks))
    return scores[rows, np.arange(tasks)]


def _iqm(resampled: np.ndarray) -> np.ndarray:
    """IQM over runs and tasks of each resample: (reps, runs, tasks, ...) -> (reps, ...)."""
    reps, runs, tasks = resampled.shape[:3]
    return trim_mean(resampled.reshape(reps, runs * tasks, *resampled.shape[3:]), 0.25, axis=1)


def _probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of each resample, ties counting half, averaged over tasks: (reps, nx, tasks), (reps, ny, tasks)
    -> (reps,). The Mann-Whitney U statistic over nx·ny, as ``rliable.metrics.probability_of_improvement``."""
    difference = x[:, :, None, :] - y[:, None, :, :]  # (reps, nx, ny, tasks)
    return ((difference > 0) + 0.5 * (difference == 0)).mean(axis=(1, 2, 3))


def bootstrap_ci(
    statistic: Callable[..., np.ndarray], *scores: np.ndarray, reps: int = BOOTSTRAP_REPS
) -> tuple[np.ndarray, np.ndarray] | None:
    """Percentile CI of ``statistic`` under a stratified bootstrap, each score array resampled independently.

    :param statistic: takes one resampled array per score array, (reps, runs, tasks, ...), returns (reps, ...)
    :param scores: (runs, tasks, ...) arrays, one per method
    :param reps: bootstrap resamples
    :return: lower and upper bounds, or None when an array has fewer than 2 runs (nothing to resample)
    """
    if min(s.shape[0] for s in scores) < 2:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    values = statistic(*(_resample(s, rng, reps) for s in scores))
    tail = 50 * (1 - CONFIDENCE)
    low, high = np.percentile(values, [tail, 100 - tail], axis=0)
    return low, high


def _interval(bounds: tuple[np.ndarray, np.ndarray] | None) -> Interval:
    """The bounds of :func:`bootstrap_ci` as floats, None where the CI is undefined."""
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


def iqm(scores: np.ndarray) -> tuple[float, Interval]:
    """Interquartile mean over runs and tasks with its 95% stratified-bootstrap CI.

    :param scores: (runs, tasks) normalised scores, e.g. (seeds, envs)
    :return: the IQM and its CI (None with one run per task)
    """
    return float(metrics.aggregate_iqm(scores)), _interval(bootstrap_ci(_iqm, scores))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> tuple[float, Interval]:
    """P(a run of X beats a run of Y on the same task), averaged over tasks, with its 95% bootstrap CI.

    :param x: (runs, tasks) scores of X
    :param y: (runs, tasks) scores of Y, same tasks
    """
    bounds = bootstrap_ci(_probability_of_improvement, x, y)
    return float(metrics.probability_of_improvement(x, y)), _interval(bounds)


def iqm_difference(x: np.ndarray, y: np.ndarray) -> tuple[float, Interval]:
    """IQM(X) − IQM(Y) with its 95% CI (X and Y resampled independently, each within its tasks).

    :param x: (runs, tasks) scores of X
    :param y: (runs, tasks) scores of Y, same tasks
    """
    bounds = bootstrap_ci(lambda a, b: _iqm(a) - _iqm(b), x, y)
    return float(metrics.aggregate_iqm(x) - metrics.aggregate_iqm(y)), _interval(bounds)


def lead_change(
    aihf_scarce: np.ndarray, base_scarce: np.ndarray, aihf_rich: np.ndarray, base_rich: np.ndarray
) -> tuple[float, Interval]:
    """How much larger AIHF's lead over a baseline is with few preferences than with many, with its 95% CI:
    (IQM(aihf) − IQM(base)) at the scarce budget − the same at the rich budget.

    :param aihf_scarce: (runs, tasks) scores of AIHF at the smallest preference budget
    :param base_scarce: the baseline's, same budget
    :param aihf_rich: AIHF's at the largest budget
    :param base_rich: the baseline's at the largest budget
    """
    arrays = (aihf_scarce, base_scarce, aihf_rich, base_rich)
    a, b, c, d = (float(metrics.aggregate_iqm(s)) for s in arrays)
    bounds = bootstrap_ci(lambda w, x, y, z: (_iqm(w) - _iqm(x)) - (_iqm(y) - _iqm(z)), *arrays)
    return (a - b) - (c - d), _interval(bounds)


def iqm_curve(curves: np.ndarray, reps: int = 2_000) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """IQM over seeds at each evaluation, with a 95% stratified-bootstrap band.

    :param curves: (seeds, evaluations) scores or returns
    :param reps: bootstrap resamples (fewer than for a table: a band is drawn, not read)
    :return: the IQM curve and the band's lower and upper curves (None with one seed)
    """
    point = trim_mean(curves, 0.25, axis=0)
    bounds = bootstrap_ci(_iqm, curves[:, None, :], reps=reps)
    return (point, None, None) if bounds is None else (point, bounds[0], bounds[1])
