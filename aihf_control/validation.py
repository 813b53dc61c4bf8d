"""Input checks shared by every algorithm: each error says what is wrong and how to fix it."""

from __future__ import annotations

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


class NonFiniteError(FloatingPointError):
    """Training met a NaN or inf; the message names the quantity and the step.

    :param message: what became non-finite, where, and what to try
    :param state_is_good: True when the model's parameters are still those before the bad value (the step
        that met it was not applied), so the current state is worth saving
    """

    def __init__(self, message: str, state_is_good: bool = False) -> None:
        super().__init__(message)
        self.state_is_good = state_is_good
