"""Scripted teachers: label segment pairs from the true environment reward, as in B-Pref.

B-Pref (Lee et al. 2021, "B-Pref: Benchmarking Preference-Based Reinforcement Learning")
models irrational human labellers with six teachers built from one set of knobs: the
oracle, a stochastic (Bradley–Terry) teacher, one that makes mistakes, a myopic one,
one that skips queries it finds uninformative and one that calls near-ties equal.
``ScriptedTeacher`` is that set of knobs; the six teachers are its presets.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass, fields
from numbers import Real

import numpy as np

from aihf_control.validation import as_float_array

TEACHER_NAMES = ("oracle", "stochastic", "mistake", "myopic", "skip", "equal")


def _real(name: str, value: object) -> float:
    """``value`` as a finite Python float (plain float so the settings serialise to JSON)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"ScriptedTeacher.{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"ScriptedTeacher.{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class ScriptedTeacher:
    """A scripted labeller of segment pairs, with B-Pref's irrationalities.

    For a pair of reward sequences (r¹, r²) of T steps, with undiscounted returns R = Σ_t r_t:

    1. **preference** on the teacher's perceived return R^γ = Σ_t γ^(T-1-t) r_t (a myopic teacher,
       γ < 1, weighs the *last* steps most). Deterministic (``beta=None``): label 1 if R¹^γ > R²^γ,
       0 if lower, 0.5 on an exact tie. Stochastic (``beta > 0``): label ~ Bernoulli(σ(β (R¹^γ - R²^γ))),
       Bradley–Terry with rationality β (β → ∞ is the oracle, β → 0 a coin flip).
    2. **mistake**: each label is flipped (y → 1 - y) with probability ``eps_mistake``.
    3. **equal**: where |R¹ - R²| < ``equal_threshold`` the label is 0.5, whatever steps 1-2 said.
    4. **skip**: a pair whose returns are *both* below ``skip_threshold`` is dropped (``keep`` False).

    The order, and the use of undiscounted returns in steps 3 and 4, follow B-Pref's ``get_label``.

    **Thresholds are absolute**, in units of undiscounted segment return, and 0 switches the step off.
    B-Pref states them relatively, as ε × (the mean return of a segment); the ``skip`` and ``equal``
    presets do the same mapping once, from returns you give them: threshold = fraction × mean |R| of
    ``reference_returns``, and the teacher stores the resolved absolute value. So a pair's label never
    depends on which other pairs share its batch, and the stored settings reproduce the labels exactly.

    :param beta: rationality β of the Bradley–Terry teacher (> 0), or None for a deterministic teacher
    :param gamma: myopic discount γ in (0, 1]; 1 weighs all steps equally
    :param eps_mistake: probability in [0, 1] that a label is flipped
    :param skip_threshold: drop pairs whose undiscounted returns are both below this value (≥ 0; 0 = never skip)
    :param equal_threshold: label 0.5 where the undiscounted returns differ by less than this value
        (≥ 0; 0 = only exact ties of a deterministic teacher are 0.5)
    """

    beta: float | None = None
    gamma: float = 1.0
    eps_mistake: float = 0.0
    skip_threshold: float = 0.0
    equal_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.beta is not None:
            beta = _real("beta", self.beta)
            if beta <= 0:
                raise ValueError(
                    f"ScriptedTeacher.beta must be > 0 (larger = more rational), or None for a deterministic "
                    f"teacher, got {beta}; B-Pref's teacher_beta=-1 is beta=None here"
                )
            object.__setattr__(self, "beta", beta)
        gamma = _real("gamma", self.gamma)
        if not 0 < gamma <= 1:
            raise ValueError(f"ScriptedTeacher.gamma is a discount and must be in (0, 1], got {gamma}; 1 = not myopic")
        eps = _real("eps_mistake", self.eps_mistake)
        if not 0 <= eps <= 1:
            raise ValueError(f"ScriptedTeacher.eps_mistake is a probability and must be in [0, 1], got {eps}")
        values = {"gamma": gamma, "eps_mistake": eps}
        for name in ("skip_threshold", "equal_threshold"):
            values[name] = _real(name, getattr(self, name))
            if values[name] < 0:
                raise ValueError(
                    f"ScriptedTeacher.{name} must be ≥ 0 (an absolute return threshold; 0 switches it off), "
                    f"got {values[name]}"
                )
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ presets (B-Pref's defaults)

    @classmethod
    def oracle(cls) -> ScriptedTeacher:
        """Prefers the segment with the higher true return (0.5 on an exact tie)."""
        return cls()

    @classmethod
    def stochastic(cls, beta: float = 1.0) -> ScriptedTeacher:
        """Bradley–Terry teacher: P(σ¹ ≻ σ²) = σ(β (R¹ - R²)).

        :param beta: rationality β > 0, in units of 1 / return
        """
        return cls(beta=beta)

    @classmethod
    def mistake(cls, eps: float = 0.1) -> ScriptedTeacher:
        """The oracle, with each label flipped with probability ``eps``.

        :param eps: flip probability in [0, 1]
        """
        return cls(eps_mistake=eps)

    @classmethod
    def myopic(cls, gamma: float = 0.9) -> ScriptedTeacher:
        """Compares Σ_t γ^(T-1-t) r_t: remembers the end of a segment better than its start.

        :param gamma: discount in (0, 1]
        """
        return cls(gamma=gamma)

    @classmethod
    def skip(cls, reference_returns: np.ndarray, fraction: float = 0.1) -> ScriptedTeacher:
        """The oracle, skipping pairs whose returns are both below ``fraction`` × mean |R| of ``reference_returns``.

        :param reference_returns: undiscounted returns of segments like those the teacher will label,
            e.g. ``cut_segments(pool, 50, 1000, rng)[2].sum(axis=1)``
        :param fraction: B-Pref's ε_skip (≥ 0)
        """
        return cls(skip_threshold=_relative_threshold("skip", reference_returns, fraction))

    @classmethod
    def equal(cls, reference_returns: np.ndarray, fraction: float = 0.1) -> ScriptedTeacher:
        """The oracle, labelling 0.5 where returns differ by less than ``fraction`` × mean |R| of ``reference_returns``.

        :param reference_returns: undiscounted returns of segments like those the teacher will label
        :param fraction: B-Pref's ε_equal (≥ 0)
        """
        return cls(equal_threshold=_relative_threshold("equal", reference_returns, fraction))

    @classmethod
    def named(cls, name: str, **overrides: object) -> ScriptedTeacher:
        """The preset called ``name`` (one of ``TEACHER_NAMES``), with its arguments in ``overrides``.

        :param name: "oracle", "stochastic", "mistake", "myopic", "skip" or "equal"
        :param overrides: arguments of that preset, e.g. ``named("mistake", eps=0.2)`` or
            ``named("skip", reference_returns=returns)``
        """
        presets = {
            "oracle": cls.oracle,
            "stochastic": cls.stochastic,
            "mistake": cls.mistake,
            "myopic": cls.myopic,
            "skip": cls.skip,
            "equal": cls.equal,
        }
        if name not in presets:
            raise ValueError(f"unknown teacher {name!r}: valid names are {', '.join(TEACHER_NAMES)}")
        preset = presets[name]
        signature = inspect.signature(preset)
        try:
            signature.bind(**overrides)
        except TypeError as e:
            if name in ("skip", "equal") and "reference_returns" not in overrides:
                fix = (
                    "pass reference_returns=..., undiscounted returns of segments like those to label "
                    "(e.g. cut_segments(pool, 50, 1000, rng)[2].sum(axis=1)), from which its threshold is resolved"
                )
            else:
                fix = "to combine irrationalities, build ScriptedTeacher(...) with the fields you need"
            raise TypeError(
                f"ScriptedTeacher.named({name!r}, ...): {e}; the {name!r} preset takes "
                f"({', '.join(signature.parameters)}); {fix}"
            ) from None
        return preset(**overrides)

    # ------------------------------------------------------------------ labelling

    def label(
        self, rewards_1: np.ndarray, rewards_2: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label N segment pairs at once.

        :param rewards_1: (N, T) true rewards of the first segment of each pair
        :param rewards_2: (N, T) true rewards of the second segment
        :param rng: source of the stochastic and mistake draws, e.g. ``np.random.default_rng(seed)``
        :return: labels (N,) float32 P(σ¹ ≻ σ²): in {0, 0.5, 1} for a deterministic teacher, in {0, 1} for a
            stochastic one (plus 0.5 where ``equal_threshold`` applies); and keep (N,) bool, False for
            pairs the teacher skips (their labels are still filled in, so that skipping changes no other label)
        """
        r1 = as_float_array("rewards_1", rewards_1, 2)
        r2 = as_float_array("rewards_2", rewards_2, 2)
        if r1.shape != r2.shape:
            raise ValueError(
                f"rewards_1 {r1.shape} and rewards_2 {r2.shape} must have the same shape (N pairs, T steps)"
            )
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy Generator such as np.random.default_rng(0), got {type(rng).__name__}")
        # float64 sums: float32 returns of long segments can tie or flip by rounding alone.
        returns_1 = r1.sum(axis=1, dtype=np.float64)
        returns_2 = r2.sum(axis=1, dtype=np.float64)
        if self.gamma == 1.0:
            perceived_1, perceived_2 = returns_1, returns_2
        else:
            weights = self.gamma ** np.arange(r1.shape[1] - 1, -1, -1, dtype=np.float64)  # (T,), last step 1
            perceived_1, perceived_2 = r1.astype(np.float64) @ weights, r2.astype(np.float64) @ weights
        difference = perceived_1 - perceived_2  # (N,)

        if self.beta is None:
            labels = np.where(difference > 0, 1.0, np.where(difference < 0, 0.0, 0.5))
        else:
            # σ(x) = (1 + tanh(x/2)) / 2 does not overflow for large |β ΔR|.
            p_first = 0.5 * (1.0 + np.tanh(0.5 * self.beta * difference))
            labels = (rng.random(len(difference)) < p_first).astype(np.float64)
        if self.eps_mistake > 0:
            flipped = rng.random(len(labels)) < self.eps_mistake
            labels = np.where(flipped, 1.0 - labels, labels)
        if self.equal_threshold > 0:
            labels = np.where(np.abs(returns_1 - returns_2) < self.equal_threshold, 0.5, labels)
        if self.skip_threshold > 0:
            keep = np.maximum(returns_1, returns_2) >= self.skip_threshold
        else:
            keep = np.ones(len(labels), dtype=bool)
        return labels.astype(np.float32), keep

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, float | None]:
        """The settings as plain JSON data; ``ScriptedTeacher.from_dict`` rebuilds the teacher."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> ScriptedTeacher:
        """A teacher from ``to_dict``'s output; missing settings take their defaults.

        :param settings: a dict with keys among beta, gamma, eps_mistake, skip_threshold, equal_threshold
        """
        if not isinstance(settings, dict):
            raise TypeError(f"teacher settings must be a dict (from ScriptedTeacher.to_dict), got {type(settings)}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ValueError(
                f"unknown teacher settings {unknown}: ScriptedTeacher has {', '.join(known)}; "
                "the settings were probably written by another version, remove those keys"
            )
        return cls(**settings)


def _relative_threshold(preset: str, reference_returns: np.ndarray, fraction: float) -> float:
    """B-Pref's relative threshold ε × (typical segment return) as an absolute one: fraction × mean |R|."""
    returns = np.asarray(as_float_array(f"ScriptedTeacher.{preset}(reference_returns)", reference_returns, 1))
    if len(returns) == 0:
        raise ValueError(
            f"ScriptedTeacher.{preset}: reference_returns is empty; pass returns of segments like those to label, "
            "e.g. cut_segments(pool, segment_length, 1000, rng)[2].sum(axis=1)"
        )
    fraction = _real(f"{preset}(fraction)", fraction)
    if fraction < 0:
        raise ValueError(f"ScriptedTeacher.{preset}: fraction must be ≥ 0, got {fraction}")
    return fraction * float(np.abs(returns.astype(np.float64)).mean())
