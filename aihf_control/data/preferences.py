"""Preferences: pairs of trajectory segments with a label saying which one is better.

Synthetic preferences come in three steps, each a plain function of arrays:
``cut_segments`` (which segments, from a pool of ``Trajectory``; both in ``aihf_control.data.segments``
and importable from here), ``ScriptedTeacher.label`` (who labels them) and ``generate_preferences``, which
joins the two into a ``Preferences`` dataset that ``Preferences.save`` / ``Preferences.load`` keep on disk.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Integral
from pathlib import Path

import numpy as np
from gymnasium import spaces

from aihf_control.data.segments import SegmentPool, Trajectory, cut_segments, segment_pool
from aihf_control.data.teachers import ScriptedTeacher
from aihf_control.validation import as_float_array, check_action_bounds, check_feature_size, check_positive_int

__all__ = ["Preferences", "Trajectory", "cut_segments", "generate_preferences"]

PREFERENCES_FILE_FORMAT = "aihf_control.Preferences"
PREFERENCES_FILE_VERSION = 1


@dataclass(frozen=True)
class Preferences:
    """Labelled segment pairs (σ¹, σ²), checked on construction.

    A segment that reaches its episode's termination (a fall) is padded to full length with
    absorbing steps: ``absorbing_1`` / ``absorbing_2`` mark them, their observations and actions are
    zeros and their true rewards 0. Reward learners give them the absorbing-state reward
    (``RewardNet.segment_return``), so a short episode that ends in a fall still counts, as worse.

    :param obs_1: (N, T, obs_dim) observations of the first segment of each pair
    :param acts_1: (N, T, act_dim) its actions
    :param obs_2: (N, T, obs_dim) observations of the second segment
    :param acts_2: (N, T, act_dim) its actions
    :param labels: (N,) P(σ¹ ≻ σ²) in [0, 1]: 1 = first better, 0 = second better, 0.5 = equal
    :param true_rewards_1: optional (N, T) environment rewards of the first segments, kept
        for evaluation only (never used for learning)
    :param true_rewards_2: optional (N, T) environment rewards of the second segments
    :param metadata: optional plain-JSON dict saved with the data, e.g. the settings of the teacher
        that labelled it (``generate_preferences`` fills in ``metadata["teacher"]``)
    :param absorbing_1: optional (N, T) bool, True at the padded steps of the first segments, past
        their episode's termination; once True it stays True, and step 0 is always a real step
    :param absorbing_2: optional (N, T) bool, the same for the second segments
    """

    obs_1: np.ndarray
    acts_1: np.ndarray
    obs_2: np.ndarray
    acts_2: np.ndarray
    labels: np.ndarray
    true_rewards_1: np.ndarray | None = None
    true_rewards_2: np.ndarray | None = None
    metadata: dict | None = None
    absorbing_1: np.ndarray | None = None
    absorbing_2: np.ndarray | None = None

    def __post_init__(self) -> None:
        checked = {
            name: as_float_array(f"Preferences.{name}", getattr(self, name), 3)
            for name in ("obs_1", "acts_1", "obs_2", "acts_2")
        }
        labels = as_float_array("Preferences.labels", self.labels, 1)
        n = len(labels)
        if n == 0:
            raise ValueError("Preferences are empty: pass at least one labelled segment pair")
        if ((labels < 0) | (labels > 1)).any():
            bad = labels[(labels < 0) | (labels > 1)][:5]
            raise ValueError(
                f"Preferences.labels must be probabilities P(σ¹ ≻ σ²) in [0, 1] "
                f"(1 = first better, 0 = second, 0.5 = equal), got values such as {bad.tolist()}"
            )
        for name, array in checked.items():
            if len(array) != n:
                raise ValueError(f"Preferences.{name} holds {len(array)} segments but there are {n} labels")
        o1, a1, o2, a2 = checked["obs_1"], checked["acts_1"], checked["obs_2"], checked["acts_2"]
        if o1.shape[1] != o2.shape[1]:
            raise ValueError(
                f"segments of unequal length within a pair: σ¹ has {o1.shape[1]} steps, σ² has {o2.shape[1]}; "
                "cut both segments of a pair to the same length"
            )
        if a1.shape[:2] != o1.shape[:2] or a2.shape[:2] != o2.shape[:2]:
            raise ValueError(
                f"actions and observations of a segment must have the same (N, T): "
                f"obs_1 {o1.shape}, acts_1 {a1.shape}, obs_2 {o2.shape}, acts_2 {a2.shape}"
            )
        if o1.shape[2] != o2.shape[2] or a1.shape[2] != a2.shape[2]:
            raise ValueError(
                "both segments must have the same feature sizes: "
                f"obs_1 {o1.shape} vs obs_2 {o2.shape}, acts_1 {a1.shape} vs acts_2 {a2.shape}"
            )
        for name, array in checked.items():
            object.__setattr__(self, name, array)
        object.__setattr__(self, "labels", labels)
        for name in ("true_rewards_1", "true_rewards_2"):
            value = getattr(self, name)
            if value is not None:
                value = as_float_array(f"Preferences.{name}", value, 2)
                if value.shape != o1.shape[:2]:
                    raise ValueError(f"Preferences.{name} must have shape (N, T) = {o1.shape[:2]}, got {value.shape}")
                object.__setattr__(self, name, value)
        for name in ("absorbing_1", "absorbing_2"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _checked_absorbing(f"Preferences.{name}", value, o1.shape[:2]))
        if self.metadata is not None:
            object.__setattr__(self, "metadata", _checked_metadata(self.metadata))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def segment_length(self) -> int:
        return self.obs_1.shape[1]

    def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The transitions inside both segments of every pair, for a learner's batches (not for the labels).

        Step t of a segment gives (s_t, a_t, s_{t+1}) when s_{t+1} is a real step, and a terminal transition when
        s_{t+1} is absorbing padding (its next observation is then s_t, unused by a critic's target). A segment's
        last step has no next observation and is left out.

        :return: observations (K, obs_dim), actions (K, act_dim), next observations (K, obs_dim), terminated (K,)
        """
        obs = np.concatenate([self.obs_1, self.obs_2])  # (2N, T, obs_dim)
        acts = np.concatenate([self.acts_1, self.acts_2])
        no_padding = np.zeros(self.obs_1.shape[:2], dtype=bool)  # (N, T), for a side without absorbing steps
        absorbing = np.concatenate([no_padding if a is None else a for a in (self.absorbing_1, self.absorbing_2)])
        real = ~absorbing[:, :-1]  # (2N, T-1): steps with a successor in the segment
        terminated = absorbing[:, 1:][real]
        next_obs = np.where(absorbing[:, 1:, None], obs[:, :-1], obs[:, 1:])[real]
        return obs[:, :-1][real], acts[:, :-1][real], next_obs, terminated

    def check_spaces(
        self, observation_space: spaces.Space, action_space: spaces.Space, check_bounds: bool = True
    ) -> None:
        """Raise a clear error if these segments do not fit the env's spaces.

        Besides the sizes, the actions of real (not absorbing) steps must lie within a Box action space's
        bounds, up to ``aihf_control.validation.ACTION_BOUND_TOLERANCE`` (0.1% of each dimension's range);
        for an env whose bounds are soft, clip the data explicitly with ``clip_actions``.

        :param observation_space: the env's observation space
        :param action_space: the env's action space
        :param check_bounds: False skips the action-bounds check (sizes are always checked)
        """
        check_feature_size("preference segments", self.obs_1.shape[2], "observation", observation_space)
        check_feature_size("preference segments", self.acts_1.shape[2], "action", action_space)
        if check_bounds:
            for i in (1, 2):
                absorbing = getattr(self, f"absorbing_{i}")
                real = None if absorbing is None else ~absorbing
                check_action_bounds(f"preference segments (acts_{i})", getattr(self, f"acts_{i}"), action_space, real)

    def clip_actions(self, action_space: spaces.Box) -> Preferences:
        """These pairs with the actions of their real steps clipped to the action space's bounds: the
        explicit opt-out of ``check_spaces``'s bounds check, for envs whose bounds are soft.

        :param action_space: the env's Box action space
        :return: new ``Preferences`` (absorbing steps keep their zero actions)
        """
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"clip_actions needs a Box action space, got {action_space}")
        check_feature_size("preference segments", self.acts_1.shape[2], "action", action_space)
        low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
        clipped = {}
        for i in (1, 2):
            acts, absorbing = getattr(self, f"acts_{i}"), getattr(self, f"absorbing_{i}")
            inside = np.clip(acts, low, high).astype(np.float32)
            clipped[f"acts_{i}"] = inside if absorbing is None else np.where(absorbing[..., None], acts, inside)
        return replace(self, **clipped)

    @classmethod
    def concatenate(cls, parts: Sequence[Preferences]) -> Preferences:
        """One dataset holding all pairs of ``parts``, in order (e.g. the batches of online queries so far).

        True rewards are kept only if every part has them. A part without absorbing masks has no padded
        steps, so it counts as all-False masks: the masks are kept if any part has them.

        :param parts: datasets whose segments have one length and one observation / action size
        :return: the joined dataset; its metadata is None if no part has metadata, else
            ``{"parts": [each part's metadata, None where a part has none]}`` (the parts of a part that is
            itself a join are listed one by one, so joining round after round stays flat)
        """
        if isinstance(parts, (str, bytes)) or not isinstance(parts, Sequence) or len(parts) == 0:
            raise ValueError("Preferences.concatenate needs a non-empty list of Preferences to join")
        for i, part in enumerate(parts):
            if not isinstance(part, Preferences):
                raise TypeError(f"Preferences.concatenate: parts[{i}] is a {type(part).__name__}, not a Preferences")
        first = parts[0]
        for i, part in enumerate(parts):
            if part.obs_1.shape[1:] != first.obs_1.shape[1:] or part.acts_1.shape[2] != first.acts_1.shape[2]:
                raise ValueError(
                    f"Preferences.concatenate: parts[{i}] has segments of {part.segment_length} steps, observation "
                    f"size {part.obs_1.shape[2]} and action size {part.acts_1.shape[2]}, but parts[0] has "
                    f"{first.segment_length}, {first.obs_1.shape[2]} and {first.acts_1.shape[2]}: only datasets "
                    "of one segment length from one environment can be joined"
                )
        arrays = {name: np.concatenate([getattr(p, name) for p in parts]) for name in _ARRAY_FIELDS[:5]}
        for name in ("true_rewards_1", "true_rewards_2"):
            if all(getattr(p, name) is not None for p in parts):
                arrays[name] = np.concatenate([getattr(p, name) for p in parts])
        for name in ("absorbing_1", "absorbing_2"):
            if any(getattr(p, name) is not None for p in parts):
                # A part without a mask has no padded step: all False, (N_i, T).
                masks = [getattr(p, name) for p in parts]
                arrays[name] = np.concatenate(
                    [
                        np.zeros((len(p), p.segment_length), dtype=bool) if m is None else m
                        for p, m in zip(parts, masks, strict=True)
                    ]
                )
        has_metadata = any(p.metadata is not None for p in parts)
        joined: list = []
        for p in parts:  # a part that is itself a join adds its parts, so repeated joins stay flat
            is_join = isinstance(p.metadata, dict) and set(p.metadata) == {"parts"}
            joined += p.metadata["parts"] if is_join else [p.metadata]
        return cls(**arrays, metadata={"parts": joined} if has_metadata else None)

    def save(self, path: str | os.PathLike) -> None:
        """Write the dataset to ``path`` (exactly that name; no suffix is added) as a compressed .npz file.

        The file holds the segment arrays, labels, true rewards if present, and a JSON header with the
        format version, the segment length and ``metadata``. ``Preferences.load(path)`` reads it back exactly.

        :param path: file to write; its folder must exist
        """
        header = {
            "format": PREFERENCES_FILE_FORMAT,
            "format_version": PREFERENCES_FILE_VERSION,
            "segment_length": self.segment_length,
            "num_pairs": len(self),
            "metadata": self.metadata,
        }
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS if getattr(self, name) is not None}
        # A file object, not a name: np.savez_compressed would append ".npz" to a name without it.
        with open(path, "wb") as file:
            np.savez_compressed(file, header=np.array(json.dumps(header, allow_nan=False)), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Preferences:
        """Read a dataset written by ``Preferences.save``.

        :param path: the file
        :return: the dataset, equal array for array and in metadata to the one saved
        """
        path = Path(path)
        if not path.is_file():
            what = "a folder, not a file" if path.is_dir() else "missing"
            raise FileNotFoundError(
                f"cannot load preferences from {path}: it is {what}; check the path, "
                "or write the file with Preferences.save(path) (e.g. generate_preferences(...).save(path))"
            )
        corrupt = (
            f"{path} is not a readable preference file (corrupt, truncated, or not written by Preferences.save)"
            "; write it again with Preferences.save"
        )
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            # numpy's own message here suggests unpickling the file, which would be the wrong fix.
            raise ValueError(f"{corrupt}: it is not an .npz archive") from e
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{corrupt}: it holds a single array, not the .npz archive of a preference dataset")
        with loaded:
            try:
                stored = {name: loaded[name] for name in loaded.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise ValueError(f"{corrupt}: {e}") from e
        if "header" not in stored:
            raise ValueError(f"{corrupt}: it has no 'header' entry (it holds {sorted(stored)})")
        try:
            header = json.loads(str(stored["header"]))
        except json.JSONDecodeError as e:
            raise ValueError(f"{corrupt}: its header is not valid JSON: {e}") from e
        if not isinstance(header, dict) or header.get("format") != PREFERENCES_FILE_FORMAT:
            found = header.get("format") if isinstance(header, dict) else header
            raise ValueError(f"{corrupt}: its header says format {found!r}, expected {PREFERENCES_FILE_FORMAT!r}")
        version = header.get("format_version")
        if version != PREFERENCES_FILE_VERSION:
            newer = isinstance(version, int) and version > PREFERENCES_FILE_VERSION
            fix = "upgrade aihf_control to read it" if newer else "write it again with Preferences.save"
            raise ValueError(
                f"{path} is a preference file of format version {version!r}, but this aihf_control reads "
                f"version {PREFERENCES_FILE_VERSION}; {fix}"
            )
        missing = [name for name in ("obs_1", "acts_1", "obs_2", "acts_2", "labels") if name not in stored]
        if missing:
            raise ValueError(f"{corrupt}: it lacks the arrays {missing}")
        try:
            prefs = cls(
                **{name: stored.get(name) for name in _ARRAY_FIELDS},
                metadata=header.get("metadata"),
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"{corrupt}: {e}") from e
        if header.get("segment_length") != prefs.segment_length or header.get("num_pairs") != len(prefs):
            raise ValueError(
                f"{corrupt}: its header says {header.get('num_pairs')} pairs of {header.get('segment_length')} "
                f"steps, its arrays hold {len(prefs)} pairs of {prefs.segment_length} steps"
            )
        return prefs


_ARRAY_FIELDS = (
    "obs_1",
    "acts_1",
    "obs_2",
    "acts_2",
    "labels",
    "true_rewards_1",
    "true_rewards_2",
    "absorbing_1",
    "absorbing_2",
)


def _checked_absorbing(name: str, value: object, shape: tuple[int, int]) -> np.ndarray:
    """A (N, T) bool mask of padded steps: each row False, then True to the end (a segment that ran out)."""
    array = np.asarray(value)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be a bool array (True at padded steps past a termination), got {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape (N, T) = {shape}, got {array.shape}")
    if array[:, 0].any():
        first = int(np.argmax(array[:, 0]))
        raise ValueError(f"{name}[{first}] is padding from its first step: a segment needs at least one real step")
    if (array[:, :-1] & ~array[:, 1:]).any():
        first = int(np.argmax((array[:, :-1] & ~array[:, 1:]).any(axis=1)))
        raise ValueError(
            f"{name}[{first}] has a real step after a padded one: padding can only fill a segment's end, "
            "after its episode terminated"
        )
    return array.copy()


def _checked_metadata(metadata: object) -> dict:
    """A private copy of ``metadata``, which must survive a JSON round trip unchanged (so save/load is exact)."""
    if not isinstance(metadata, dict):
        raise TypeError(f"Preferences.metadata must be a dict or None, got {type(metadata).__name__}")
    try:
        copy = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"Preferences.metadata must be plain JSON data so it can be saved (str keys; str, int, float, bool, "
            f"None, list and dict values; no NaN or numpy scalars): {e}"
        ) from e
    if copy != metadata:
        raise ValueError(
            "Preferences.metadata changes on a JSON round trip, so it would not load back as saved: "
            "use str keys and lists instead of tuples"
        )
    return copy


# -------------------------------------------------------------------------------- synthetic preferences
def generate_preferences(
    trajectories: Sequence[Trajectory],
    num_pairs: int,
    teacher: ScriptedTeacher,
    segment_length: int = 50,
    seed: int | None = 0,
) -> Preferences:
    """Synthetic preferences: random segment pairs from ``trajectories``, labelled by ``teacher``.

    Segments are cut as by ``cut_segments`` (those that reach a termination are padded and marked
    in ``absorbing_1`` / ``absorbing_2``). Pairs the teacher skips are replaced by fresh draws, so the
    result has exactly ``num_pairs`` pairs. The true rewards of both segments are kept; ``metadata``
    holds the teacher's settings (``metadata["teacher"]``, which ``ScriptedTeacher.from_dict``
    rebuilds), the segment length, the seed, the pool size in real steps and ``pairs_drawn``, the
    number of pairs labelled before skipping.

    :param trajectories: the pool to cut segments from
    :param num_pairs: how many labelled pairs to return
    :param teacher: the scripted labeller, e.g. ``ScriptedTeacher.oracle()``
    :param segment_length: steps per segment
    :param seed: seeds segment sampling and the teacher's draws; one seed gives one dataset
    :return: the labelled pairs
    """
    check_positive_int("num_pairs", num_pairs)
    if not isinstance(teacher, ScriptedTeacher):
        raise TypeError(
            f"teacher must be a ScriptedTeacher, got {type(teacher).__name__}; "
            "e.g. ScriptedTeacher.oracle() or ScriptedTeacher.named('mistake')"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    seed = None if seed is None else int(seed)
    pool = segment_pool(trajectories, segment_length)
    rng = np.random.default_rng(seed)
    # Label from the rewards alone, and gather observations only for the pairs the teacher keeps.
    starts_1, starts_2, labels, pairs_drawn = _labelled_pairs(pool, num_pairs, teacher, rng)
    steps_1, steps_2 = pool.steps(starts_1), pool.steps(starts_2)  # (N, T)
    return Preferences(
        obs_1=pool.obs[steps_1],
        acts_1=pool.acts[steps_1],
        obs_2=pool.obs[steps_2],
        acts_2=pool.acts[steps_2],
        labels=labels,
        true_rewards_1=pool.rewards[steps_1],
        true_rewards_2=pool.rewards[steps_2],
        absorbing_1=pool.absorbing[steps_1],
        absorbing_2=pool.absorbing[steps_2],
        metadata={
            "teacher": teacher.to_dict(),
            "segment_length": pool.segment_length,
            "seed": seed,
            "pool_steps": int((~pool.absorbing).sum()),  # real steps, padding left out
            "pairs_drawn": pairs_drawn,
        },
    )


def _labelled_pairs(
    pool: SegmentPool, num_pairs: int, teacher: ScriptedTeacher, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """First steps (N,), (N,) and labels (N,) of ``num_pairs`` pairs the teacher kept, and how many pairs it saw."""
    # A teacher that keeps under 1 % of pairs is almost surely misconfigured: stop rather than draw on.
    max_drawn = 100 * num_pairs
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    kept = drawn = 0
    while kept < num_pairs:
        missing = num_pairs - kept
        # Enough pairs for the keep rate seen so far, plus a margin; at most 5 × num_pairs at once.
        batch = missing if drawn == 0 else math.ceil(1.2 * missing * drawn / kept) + 16
        batch = min(batch, 5 * num_pairs, max_drawn - drawn)
        if batch <= 0:
            raise ValueError(
                f"the teacher kept only {kept} of {drawn} pairs drawn, fewer than the {num_pairs} asked for: its "
                f"skip_threshold {teacher.skip_threshold} is above the returns of almost every pair; lower "
                "skip_threshold (or the skip preset's fraction), add better trajectories to the pool, or ask for fewer"
            )
        starts = pool.sample_starts(2 * batch, rng)  # (2B,)
        rewards = pool.rewards[pool.steps(starts)]  # (2B, T)
        labels, keep = teacher.label(rewards[:batch], rewards[batch:], rng)
        parts.append((starts[:batch][keep], starts[batch:][keep], labels[keep]))
        kept += int(keep.sum())
        drawn += batch
        if kept == 0:
            best = float(rewards.sum(axis=1, dtype=np.float64).max())
            raise ValueError(
                f"the teacher skipped all {drawn} pairs drawn: no segment return reaches its skip_threshold "
                f"{teacher.skip_threshold} (the largest segment return seen is {best:.4g}); lower skip_threshold "
                "or add better trajectories to the pool"
            )
    starts_1, starts_2, labels = (np.concatenate(arrays)[:num_pairs] for arrays in zip(*parts, strict=True))
    return starts_1, starts_2, labels, drawn
