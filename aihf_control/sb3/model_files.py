"""Checks on saved model files before SB3 unpickles anything from them.

An SB3 model zip holds a JSON ``data`` entry (some of its values cloudpickled: spaces, schedules, which SB3
unpickles on load, so only load model files you trust) and ``.pth`` entries of tensors, which SB3 reads with
``torch.load(..., weights_only=True)``. These helpers read the JSON as plain text: a file is identified, and a
file of another algorithm refused, before anything in it is unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any


def _as_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix != ".zip" and not path.exists() and path.with_suffix(".zip").exists():
        path = path.with_suffix(".zip")  # SB3's save adds ".zip"; accept the name without it, as SB3 does
    return path


def read_saved_data(path: str | os.PathLike) -> dict[str, Any]:
    """The ``data`` JSON of a model zip written by SB3's ``model.save``, as plain JSON (nothing unpickled).

    :param path: the model file (``.zip`` may be left out)
    :return: the JSON object; cloudpickled values stay as their ``{":serialized:": ...}`` records
    """
    path = _as_path(path)
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "missing"
        raise FileNotFoundError(f"cannot load a model from {path}: it is {what}; pass the .zip written by model.save")
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read("data")
    except zipfile.BadZipFile as e:
        raise ValueError(
            f"{path} is not a model file: it is not a zip archive (truncated, corrupt, or another kind of file); "
            "save the model again with model.save(path), or resume from an earlier checkpoint"
        ) from e
    except KeyError as e:
        raise ValueError(f"{path} is a zip archive, not a model saved by Stable-Baselines3 (no 'data' entry)") from e
    except (OSError, zipfile.LargeZipFile, EOFError) as e:
        raise ValueError(f"{path} could not be read as a model file ({e}); save the model again") from e
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is damaged: its 'data' entry is not valid JSON ({e}); save the model again") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} is damaged: its 'data' entry is not a JSON object")
    return data


def saved_algorithm(path: str | os.PathLike) -> str:
    """Name of the algorithm that saved a model file: "AIHF", "RLHF", "IPL", "BC", or SB3's ("SAC", "TQC", ...).

    Our algorithms record their name in the file (``saved_by``); for others it is read from the module of the
    saved policy class (``stable_baselines3.sac.policies`` → "SAC").

    :param path: the model file
    """
    data = read_saved_data(path)
    if isinstance(data.get("saved_by"), str):
        return data["saved_by"]
    # Files of our algorithms saved before they recorded their name: told apart by their own settings.
    if "alignment_steps" in data:
        return "RLHF" if "bc_steps" in data else "AIHF"
    if "reward_regularization" in data:
        return "IPL"
    if "bc_batch_size" in data:
        return "BC"
    policy = data.get("policy_class")
    module = policy.get("__module__", "") if isinstance(policy, dict) else ""
    parts = module.split(".")
    if len(parts) >= 2 and parts[-1] == "policies":
        return "PPO/A2C" if parts[-2] == "common" else parts[-2].upper()
    return "unknown"


def check_model_file(path: str | os.PathLike, expected: str) -> None:
    """Raise a clear error unless ``path`` is a model saved by the algorithm named ``expected``.

    :param path: the model file
    :param expected: algorithm name, e.g. "AIHF"
    """
    found = saved_algorithm(path)
    if found != expected:
        raise TypeError(
            f"{_as_path(path)} holds a {found} model, not a {expected} model: load it with {found}.load(...) "
            "(`python -m aihf_control.play` tells them apart)"
        )


class CheckedLoad:
    """Mixin for SB3 algorithms (``class AIHF(CheckedLoad, SAC)``): the saved file records which algorithm
    wrote it, and ``load`` refuses a file of another algorithm, a damaged file, or a tensor file holding
    pickled objects, each with a clear error, before SB3 builds anything from it.
    """

    saved_by: str

    def _setup_model(self) -> None:
        self.saved_by = type(self).__name__  # kept in the file's JSON data by model.save
        super()._setup_model()  # type: ignore[misc]

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto", **kwargs: Any) -> Any:
        """SB3's ``load`` (same arguments), with the checks above.

        Tensors are read with ``torch.load(..., weights_only=True)``; SB3 also unpickles the spaces and
        schedules kept in the file's JSON, so only load model files you trust.
        """
        if not hasattr(path, "read"):
            check_model_file(path, cls.__name__)
        try:
            return super().load(path, env=env, device=device, **kwargs)  # type: ignore[misc]
        except pickle.UnpicklingError as e:
            raise ValueError(
                f"refusing to load {path}: a tensor file in it holds pickled Python objects that are not tensors "
                f"(torch.load(weights_only=True) refused them: {str(e).splitlines()[0]}); "
                "it was not written by model.save, or was tampered with"
            ) from e
        except (RuntimeError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(
                f"{path} is a damaged {cls.__name__} model file ({type(e).__name__}: {str(e).splitlines()[0]}); "
                "save the model again, or resume from an earlier checkpoint"
            ) from e
