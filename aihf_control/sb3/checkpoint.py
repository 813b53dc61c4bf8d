"""Checkpoints that ``learn`` can resume from after a crash, written atomically.

A checkpoint is a folder ``<save_path>/step_<num_timesteps>/`` holding

- ``model.zip``: SB3's ``model.save`` (policy, critics, every optimiser, the reward net and its optimiser,
  step and update counters; the tensors are read back with ``torch.load(..., weights_only=True)``),
- ``replay_buffer.npz``: the filled part of the replay buffer (plain arrays, read with ``allow_pickle=False``),
- ``state.json``: the random number generators' states (Python, NumPy, torch, the envs', the action space's),
  the algorithm's name, and what the caller adds through ``extra_state`` (e.g. a benchmark's curve so far),
- ``preferences.npz`` for a model that gathers preferences online (they cannot be rebuilt from the inputs).

Each is written under a temporary folder name that is renamed into place once complete, and
``<save_path>/latest.json`` is then replaced atomically to point at it: a process killed at any moment
leaves the previous checkpoint intact. Nothing in a checkpoint is unpickled on load except what SB3 keeps
cloudpickled in ``model.zip`` (spaces and schedules), so resume only from checkpoints you wrote.

A resumed run restarts the episode that was in progress (the envs are reset): it continues the learning,
step counters and random streams, but is not bit-for-bit the run that was interrupted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from aihf_control.sb3.model_files import check_model_file

Algorithm = TypeVar("Algorithm", bound=BaseAlgorithm)

CHECKPOINT_FORMAT_VERSION = 1
_BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


class ResumableCheckpointCallback(BaseCallback):
    """Every ``save_freq`` env steps, write a checkpoint that ``load_checkpoint`` resumes from.

    Works with any SB3 off-policy algorithm (AIHF, RLHF, IPL, SAC, ...). Pass it to ``learn`` (in a list with
    other callbacks if needed, after an evaluation callback so that an evaluation at the same step is part of
    the checkpoint). ``model.learn`` of AIHF also uses it to keep the last good state when training hits a
    NaN or inf.

    :param save_freq: env steps (summed over parallel envs) between checkpoints
    :param save_path: folder of the checkpoints; created if missing
    :param save_replay_buffer: also save the replay buffer (needed to resume exactly what SAC learns from;
        about 120 bytes per Hopper transition)
    :param keep: how many of the newest checkpoints to keep (older ones are deleted)
    :param extra_state: called at each save; must return JSON-serialisable data stored in ``state.json``
        under ``"extra"`` (read it back with ``read_checkpoint_state``)
    :param verbose: 1 prints a line per checkpoint
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | os.PathLike,
        save_replay_buffer: bool = True,
        keep: int = 2,
        extra_state: Callable[[], Any] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if int(save_freq) <= 0 or int(keep) <= 0:
            raise ValueError(f"save_freq and keep must be positive integers, got {save_freq} and {keep}")
        self.save_freq = int(save_freq)
        self.save_path = Path(save_path)
        self.save_replay_buffer = save_replay_buffer
        self.keep = int(keep)
        self.extra_state = extra_state
        self.last_saved: Path | None = None
        self._next_save = 0

    def _init_callback(self) -> None:
        try:
            self.save_path.mkdir(parents=True, exist_ok=True)
            probe = self.save_path / f".write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise PermissionError(
                f"cannot write checkpoints to {self.save_path} ({e.strerror or e}); pass a folder you can write to"
            ) from e

    def _on_training_start(self) -> None:
        self._next_save = (self.num_timesteps // self.save_freq + 1) * self.save_freq

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # At the end of a rollout the step's transition is in the buffer, and the gradient steps are next.
        if self.num_timesteps >= self._next_save:
            self._next_save = (self.num_timesteps // self.save_freq + 1) * self.save_freq
            self.save()

    def save(self) -> Path:
        """Write a checkpoint of the model now; returns its folder."""
        path = save_checkpoint(
            self.model,
            self.save_path,
            self.save_replay_buffer,
            extra=self.extra_state() if self.extra_state is not None else None,
        )
        self.last_saved = path
        _prune(self.save_path, self.keep)
        if self.verbose:
            print(f"checkpoint at {self.num_timesteps} env steps: {path}")
        return path


def save_checkpoint(
    model: BaseAlgorithm, save_path: str | os.PathLike, save_replay_buffer: bool = True, extra: Any = None
) -> Path:
    """Write a checkpoint of ``model`` into ``save_path/step_<num_timesteps>`` atomically (see the module).

    :param model: the model (an SB3 algorithm)
    :param save_path: the folder of checkpoints
    :param save_replay_buffer: also save the replay buffer
    :param extra: JSON-serialisable data stored with it
    :return: the checkpoint's folder
    """
    save_path = Path(save_path)
    save_path.mkdir(parents=True, exist_ok=True)
    final = save_path / f"step_{model.num_timesteps:012d}"
    staging = save_path / f".staging-{final.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    model.save(staging / "model.zip")
    buffer = getattr(model, "replay_buffer", None)
    if save_replay_buffer and isinstance(buffer, ReplayBuffer):
        _save_buffer(buffer, staging / "replay_buffer.npz")
    if getattr(model, "preference_source", None) == "online" and getattr(model, "preferences", None) is not None:
        model.preferences.save(staging / "preferences.npz")
    state = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "algorithm": type(model).__name__,
        "num_timesteps": int(model.num_timesteps),
        "rng": _rng_state(model),
        "extra": extra,
    }
    _write_json(staging / "state.json", state)
    _fsync_folder(staging)
    if final.exists():  # the same step saved again after a resume: the newer one wins
        shutil.rmtree(final)
    os.replace(staging, final)
    _write_json(save_path / "latest.json", {"checkpoint": final.name, "num_timesteps": int(model.num_timesteps)})
    return final


def latest_checkpoint(save_path: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under ``save_path``, or None if there is none."""
    save_path = Path(save_path)
    pointer = save_path / "latest.json"
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text())["checkpoint"]
            if (save_path / name / "state.json").is_file():
                return save_path / name
        except (json.JSONDecodeError, KeyError, TypeError):
            pass  # fall back to the folders themselves
    complete = sorted(p for p in save_path.glob("step_*") if (p / "state.json").is_file())
    return complete[-1] if complete else None


def read_checkpoint_state(checkpoint: str | os.PathLike) -> dict:
    """``state.json`` of a checkpoint folder (or of the newest one in a folder of checkpoints)."""
    folder = checkpoint_folder(checkpoint)
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{folder} is not a readable checkpoint (state.json: {e}); resume from an earlier one "
            f"({', '.join(p.name for p in sorted(folder.parent.glob('step_*')))})"
        ) from e
    if not isinstance(state, dict) or state.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(f"{folder}/state.json is not a checkpoint state of format {CHECKPOINT_FORMAT_VERSION}")
    return state


def load_checkpoint(
    algorithm: type[Algorithm], checkpoint: str | os.PathLike, env: Any, **load_kwargs: Any
) -> Algorithm:
    """Load a model, its replay buffer and random states from a checkpoint, ready to go on learning.

    Then call ``model.learn(remaining_steps, reset_num_timesteps=False, ...)``: the step counter, the reward
    update schedule and the TensorBoard run continue where the checkpoint left off.

    :param algorithm: the class that wrote it (AIHF, RLHF, IPL, SAC, ...)
    :param checkpoint: a checkpoint folder, or a folder of checkpoints (the newest is taken)
    :param env: the environment to go on with (a fresh instance of the same env)
    :param load_kwargs: passed to ``algorithm.load``, e.g. ``demonstrations=..., preferences=...`` for AIHF
        (feedback data is not part of a checkpoint, except preferences gathered online)
    :return: the model
    """
    folder = checkpoint_folder(checkpoint)
    state = read_checkpoint_state(folder)
    if state["algorithm"] != algorithm.__name__:
        raise TypeError(
            f"{folder} is a checkpoint of {state['algorithm']}, not of {algorithm.__name__}: "
            f"load it with load_checkpoint({state['algorithm']}, ...)"
        )
    check_model_file(folder / "model.zip", algorithm.__name__)
    model = algorithm.load(folder / "model.zip", env=env, **load_kwargs)
    if (folder / "preferences.npz").is_file():
        from aihf_control.data.preferences import Preferences

        model.set_feedback(model.demonstrations, Preferences.load(folder / "preferences.npz"))
    if (folder / "replay_buffer.npz").is_file():
        _load_buffer(model.replay_buffer, folder / "replay_buffer.npz")
    _set_rng_state(model, state["rng"])
    return model


def find_checkpoint_callback(callback: Any) -> ResumableCheckpointCallback | None:
    """The first checkpoint callback among those passed to ``learn`` (a callback, a list, or a CallbackList)."""
    if isinstance(callback, ResumableCheckpointCallback):
        return callback
    for child in callback if isinstance(callback, list) else getattr(callback, "callbacks", []):
        found = find_checkpoint_callback(child)
        if found is not None:
            return found
    return None


def keep_last_good(callback: Any, state_is_good: bool, parameters: Any) -> str:
    """After a NaN/inf: save the model if its state is still good, and say where the last good state is.

    :param callback: the callbacks passed to ``learn`` (the checkpoint callback is looked for among them)
    :param state_is_good: whether the bad value was caught before any parameter took it
    :param parameters: the model's parameters, checked to be finite before saving
    :return: a sentence for the error message
    """
    checkpoint = find_checkpoint_callback(callback)
    if checkpoint is None:
        return "No checkpoint was kept: pass ResumableCheckpointCallback(...) to learn() to keep one"
    if state_is_good and all(torch.isfinite(p).all() for p in parameters):
        return f"The last good state (before that step) is saved in {checkpoint.save()}"
    last = latest_checkpoint(checkpoint.save_path)
    return f"The last good checkpoint is {last}" if last else "No checkpoint had been written yet"


# ---------------------------------------------------------------------- helpers


def checkpoint_folder(checkpoint: str | os.PathLike) -> Path:
    """``checkpoint`` if it is a checkpoint folder (``step_...`` with its state.json), else the newest one in it.

    :param checkpoint: a ``step_...`` folder or a folder of them, as ``ResumableCheckpointCallback`` writes them
    :raises FileNotFoundError: if there is no checkpoint there
    """
    path = Path(checkpoint)
    if (path / "state.json").is_file():
        return path
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is None:
        raise FileNotFoundError(
            f"no checkpoint in {path}: expected a folder written by ResumableCheckpointCallback "
            "(with latest.json and step_* folders) or one of its step_* folders"
        )
    return latest


def _save_buffer(buffer: ReplayBuffer, path: Path) -> None:
    size = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {name: getattr(buffer, name)[:size] for name in _BUFFER_ARRAYS if getattr(buffer, name, None) is not None}
    with open(path, "wb") as file:  # a file object: np.savez would add ".npz" to a name
        np.savez(file, pos=np.array(buffer.pos), full=np.array(buffer.full), **arrays)


def _load_buffer(buffer: ReplayBuffer, path: Path) -> None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path} is not a readable replay buffer ({e}); resume from an earlier checkpoint") from e
    size = len(arrays["observations"])
    if size > buffer.buffer_size:
        raise ValueError(
            f"{path} holds {size} transitions, more than the model's buffer_size {buffer.buffer_size}: "
            "load it with the buffer_size it was trained with"
        )
    for name in _BUFFER_ARRAYS:
        if name in arrays:
            target = getattr(buffer, name)
            if target is None or target.shape[1:] != arrays[name].shape[1:]:
                raise ValueError(
                    f"{path}: the saved {name} have shape {arrays[name].shape[1:]} per step, the model's buffer "
                    f"{None if target is None else target.shape[1:]}; the checkpoint is of another env or n_envs"
                )
            target[:size] = arrays[name]
    buffer.pos, buffer.full = int(arrays["pos"]), bool(arrays["full"])


def _rng_state(model: BaseAlgorithm) -> dict:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": _to_json(random.getstate()),
        "numpy": {"keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state().tolist(),
        "action_space": model.action_space.np_random.bit_generator.state,
        "envs": [],
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    env = model.get_env()
    if env is not None:
        try:
            state["envs"] = [g.bit_generator.state for g in env.get_attr("np_random")]
        except AttributeError:
            pass  # an env without a gymnasium RNG: nothing to restore
    return state


def _set_rng_state(model: BaseAlgorithm, state: dict) -> None:
    random.setstate(_from_json(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", np.array(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["torch_cuda"]])
    model.action_space.np_random.bit_generator.state = state["action_space"]
    env = model.get_env()
    if env is not None and len(state["envs"]) == env.num_envs:
        for i, generator_state in enumerate(state["envs"]):
            generator = np.random.Generator(getattr(np.random, generator_state["bit_generator"])())
            generator.bit_generator.state = generator_state
            env.set_attr("np_random", generator, indices=[i])


def _to_json(value: Any) -> Any:
    return [_to_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def _from_json(value: Any) -> Any:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w") as file:
        json.dump(data, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _fsync_folder(folder: Path) -> None:
    for file in folder.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())


def _prune(save_path: Path, keep: int) -> None:
    for stale in save_path.glob(".staging-*"):
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a process killed mid-save
    complete = sorted(p for p in save_path.glob("step_*") if (p / "state.json").is_file())
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
