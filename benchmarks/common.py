"""Former home of the benchmark runner, kept for old imports (``from benchmarks.common import main``).

The runner is split by responsibility: ``benchmarks.profiles`` (presets and the command line),
``benchmarks.run`` (one run, its resume, and ``main``) and ``benchmarks.report`` (records, summary, table,
plot). Import from those.
"""

from benchmarks.profiles import METHODS, PROFILES, Profile, build_parser, resolve_profile
from benchmarks.report import FINAL_EVALS, plot, results_table, run_record, save_json_atomically, summarize
from benchmarks.run import RunSpec, build_model, load_feedback, main, run_one, run_specs

__all__ = [
    "FINAL_EVALS",
    "METHODS",
    "PROFILES",
    "Profile",
    "RunSpec",
    "build_model",
    "build_parser",
    "load_feedback",
    "main",
    "plot",
    "resolve_profile",
    "results_table",
    "run_one",
    "run_record",
    "run_specs",
    "save_json_atomically",
    "summarize",
]
