"""Feedback data: demonstrations and preferences."""

from aihf_control.data.demos import Demonstrations, record_demonstrations
from aihf_control.data.preferences import Preferences

__all__ = ["Demonstrations", "Preferences", "record_demonstrations"]
