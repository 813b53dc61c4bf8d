"""Feedback data: demonstrations and preferences, and Minari datasets of demonstrations."""

from aihf_control.data.demos import Demonstrations, record_demonstrations
from aihf_control.data.minari_datasets import (
    MinariDatasetNotFoundError,
    check_dataset_spaces,
    default_dataset_id,
    install_shipped_datasets,
    load_demonstrations,
    load_local_dataset,
    load_trajectories,
    local_dataset_ids,
    minari_store_path,
    shipped_dataset_ids,
)
from aihf_control.data.online import OnlinePreferenceGatherer, disagreement, recent_trajectories
from aihf_control.data.preferences import Preferences, generate_preferences
from aihf_control.data.segments import Trajectory, cut_segments
from aihf_control.data.teachers import ScriptedTeacher

__all__ = [
    "Demonstrations",
    "MinariDatasetNotFoundError",
    "OnlinePreferenceGatherer",
    "Preferences",
    "ScriptedTeacher",
    "Trajectory",
    "check_dataset_spaces",
    "cut_segments",
    "default_dataset_id",
    "disagreement",
    "generate_preferences",
    "install_shipped_datasets",
    "load_demonstrations",
    "load_local_dataset",
    "load_trajectories",
    "local_dataset_ids",
    "minari_store_path",
    "recent_trajectories",
    "record_demonstrations",
    "shipped_dataset_ids",
]
