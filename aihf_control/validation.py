"""Input checks shared by every algorithm: each error says what is wrong and how to fix it."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from gymnasium import spaces


def as_float_array(name: str, value: object, ndim: int) -> np.ndarray:
    """``value`` as a float32 array of ``ndim`` dimensions with only finite entries."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}: {e}") from e
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    check_finite(name, array)
    return array


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise if ``array`` holds NaN or inf, naming where the first one is."""
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s), the first at index {first}; "
            "remove or repair those entries before training"
        )


def check_positive_int(name: str, value: object) -> None:
    """Raise unless ``value`` is an integer ≥ 1 (a bool is not a count).

    :param name: the argument's name in the message, e.g. "num_pairs"
    :param value: the value given
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_rng(rng: object) -> None:
    """Raise unless ``rng`` is a numpy ``Generator``: the one source of randomness a data function takes.

    :param rng: the value given
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator such as np.random.default_rng(0), got {type(rng).__name__}")


def check_continuous_actions(action_space: spaces.Space) -> None:
    """SAC, and so every algorithm here, needs a Box action space."""
    if not isinstance(action_space, spaces.Box):
        raise TypeError(
            f"the action space is {action_space}, but SAC-based algorithms need continuous actions "
            "(gymnasium.spaces.Box); use a continuous-action env or wrap it with an action wrapper"
        )


def check_flat_box(name: str, space: spaces.Space) -> int:
    """Size of a flat Box space; reward nets take flat vectors."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(
            f"the {name} space is {space}, but reward learning needs a flat Box (1-D vector) {name}; "
            "flatten it with gymnasium.wrappers.FlattenObservation"
        )
    return int(space.shape[0])


def check_feature_size(what: str, got: int, space_name: str, space: spaces.Space) -> None:
    """The last dimension of some feedback data must match the env's space."""
    expected = int(np.prod(space.shape))
    if got != expected:
        raise ValueError(
            f"{what} have {space_name} size {got}, but the env's {space_name} space is {space} (size {expected}); "
            f"the feedback data was recorded on a different environment: record it on this env "
            "or pass the env it came from"
        )


# How far outside an action space's bounds feedback actions may lie before ``check_action_bounds`` refuses them,
# as a fraction of each dimension's range (high - low): 0.1%, i.e. 0.002 on [-1, 1]. It absorbs float noise
# (float32 storage, rescaling between [-1, 1] and the env's units), not data in other units.
ACTION_BOUND_TOLERANCE = 1e-3


def check_action_bounds(
    what: str, acts: np.ndarray, action_space: spaces.Space, real_steps: np.ndarray | None = None
) -> None:
    """Raise if feedback actions lie outside a Box action space's bounds (beyond ``ACTION_BOUND_TOLERANCE``).

    Actions outside the bounds are actions the policy can never take (SAC squashes its actions into the
    bounds), so a reward learnt from them tells demonstrations from policy by the action's range alone.
    Unbounded sides (±inf) and non-Box spaces are not checked.

    :param what: the data's name in the message, e.g. "demonstrations"
    :param acts: (..., act_dim) actions in the env's units
    :param action_space: the env's action space
    :param real_steps: optional bool mask of ``acts.shape[:-1]``; only True entries are checked (padded
        absorbing steps of preference segments hold zeros, not actions)
    """
    if not isinstance(action_space, spaces.Box):
        return
    low = np.asarray(action_space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(action_space.high, dtype=np.float64).reshape(-1)
    flat = np.asarray(acts, dtype=np.float64).reshape(-1, low.size)
    if real_steps is not None:
        flat = flat[np.asarray(real_steps, dtype=bool).reshape(-1)]
    if len(flat) == 0:
        return
    finite = np.isfinite(low) & np.isfinite(high)
    tolerance = np.where(finite, ACTION_BOUND_TOLERANCE * (high - low), 0.0)
    outside = (flat < low - tolerance) | (flat > high + tolerance)  # (N, act_dim); False against ±inf
    if not outside.any():
        return
    dims = np.flatnonzero(outside.any(axis=0))
    ranges = "; ".join(
        f"dimension {d} ranges over [{flat[:, d].min():.4g}, {flat[:, d].max():.4g}] "
        f"but the action space allows [{low[d]:.4g}, {high[d]:.4g}]"
        for d in dims[:3]
    ) + (f"; and {len(dims) - 3} more dimension(s)" if len(dims) > 3 else "")
    raise ValueError(
        f"{what} have actions outside the env's action bounds: {ranges} "
        f"({int(outside.any(axis=1).sum())} of {len(flat)} actions are outside by more than the tolerance of "
        f"{ACTION_BOUND_TOLERANCE:.1%} of the range). Actions recorded in other units or scaled twice are actions "
        "the policy can never take: convert them to the env's units. If the env's bounds are soft and the data "
        "is right, clip it to the bounds explicitly with .clip_actions(env.action_space) before passing it"
    )


def check_layer_sizes(name: str, sizes: object) -> list[int]:
    """Hidden layer sizes as a list of positive integers; an empty sequence (no hidden layer) is allowed.

    :param name: the argument's name in the message, e.g. "reward_net_arch"
    :param sizes: the layer sizes given
    :return: the sizes as a list of ints
    """
    try:
        if isinstance(sizes, (str, bytes, dict)):
            raise TypeError
        sizes = list(sizes)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(
            f"{name} must be a sequence of hidden layer sizes (positive integers) such as [256, 256], got {sizes!r}"
        ) from None
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1]
    if bad:
        raise ValueError(
            f"{name} must hold positive integer layer sizes such as [256, 256] ([] for no hidden layer), "
            f"got {sizes!r}: {bad[0]!r} is not a positive integer"
        )
    return [int(s) for s in sizes]


def check_policy_net_arch(policy_kwargs: dict | None) -> None:
    """Check ``policy_kwargs["net_arch"]`` of an SB3 SAC policy before SB3 builds it.

    SB3 accepts a list of layer sizes (shared by actor and critics) or a dict with ``"pi"`` and ``"qf"``
    lists; a negative, zero or fractional size would otherwise surface as a torch error about tensor sizes.

    :param policy_kwargs: the ``policy_kwargs`` passed to the algorithm (None: SB3's defaults)
    """
    if not policy_kwargs or policy_kwargs.get("net_arch") is None:
        return
    net_arch = policy_kwargs["net_arch"]
    if isinstance(net_arch, dict):
        missing = [key for key in ("pi", "qf") if key not in net_arch]
        if missing:
            raise ValueError(
                f'policy_kwargs["net_arch"] as a dict needs both "pi" (actor) and "qf" (critics) layer sizes, '
                f"missing {missing}: e.g. dict(pi=[256, 256], qf=[256, 256])"
            )
        for key in ("pi", "qf"):
            check_layer_sizes(f'policy_kwargs["net_arch"]["{key}"]', net_arch[key])
    else:
        check_layer_sizes('policy_kwargs["net_arch"]', net_arch)


def check_demo_batch_fraction(demo_batch_fraction: float) -> None:
    """:param demo_batch_fraction: share of each inner-loop batch drawn from the demonstrations, in [0, 1)"""
    if not 0.0 <= demo_batch_fraction < 1.0:
        raise ValueError(
            "demo_batch_fraction must be in [0, 1): the share of each inner-loop batch drawn from the "
            f"demonstrations (the rest is the agent's own replay), got {demo_batch_fraction}"
        )


def check_reward_learning_arguments(
    demo_weight: float,
    preference_weight: float,
    demo_batch_fraction: float,
    online: bool,
    query_selection: str,
    reward_ensemble_size: int,
    segment_batch_fraction: float = 0.0,
    **positive: int,
) -> None:
    """Check AIHF's reward-learning arguments (``AIHFRewardLearning``) before anything is built.

    :param demo_weight: weight of the demonstration term, >= 0
    :param preference_weight: weight of the preference term, >= 0 (not both 0)
    :param demo_batch_fraction: share of each inner-loop batch drawn from the demonstrations, in [0, 1)
    :param online: whether preferences are gathered online
    :param query_selection: "uniform" or "disagreement"
    :param reward_ensemble_size: reward MLPs ("disagreement" needs >= 2)
    :param segment_batch_fraction: share of each inner-loop batch drawn from the preference segments, in [0, 1);
        with ``demo_batch_fraction``, below 1
    :param positive: sizes and schedules that must be positive integers, by name
    """
    if online and preference_weight == 0:
        raise ValueError("preference_source='online' gathers preferences, but preference_weight is 0")
    if query_selection not in ("uniform", "disagreement"):
        raise ValueError(f"query_selection must be 'uniform' or 'disagreement', got {query_selection!r}")
    if query_selection == "disagreement" and reward_ensemble_size < 2:
        raise ValueError(
            "query_selection='disagreement' ranks queries by the spread of a reward ensemble: "
            f"pass reward_ensemble_size >= 2 (PEBBLE uses 3), got {reward_ensemble_size}"
        )
    for name, value in {"reward_ensemble_size": reward_ensemble_size, **positive}.items():
        if int(value) <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    check_demo_batch_fraction(demo_batch_fraction)
    if not 0.0 <= segment_batch_fraction < 1.0 or demo_batch_fraction + segment_batch_fraction >= 1.0:
        raise ValueError(
            "segment_batch_fraction must be in [0, 1) and, with demo_batch_fraction, below 1 (the rest of each "
            f"inner-loop batch is the agent's own replay), got {segment_batch_fraction} and {demo_batch_fraction}"
        )
    if demo_weight < 0 or preference_weight < 0 or demo_weight + preference_weight == 0:
        raise ValueError(
            f"demo_weight and preference_weight must be >= 0 and not both 0, got {demo_weight} and {preference_weight}"
        )


class NonFiniteError(FloatingPointError):
    """Training met a NaN or inf; the message names the quantity and the step.

    :param message: what became non-finite, where, and what to try
    :param state_is_good: True when the model's parameters are still those before the bad value (the step
        that met it was not applied), so the current state is worth saving
    """

    def __init__(self, message: str, state_is_good: bool = False) -> None:
        super().__init__(message)
        self.state_is_good = state_is_good
