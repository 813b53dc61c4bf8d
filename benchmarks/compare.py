"""Redraw ``comparison.png`` and ``results.md`` from earlier benchmark runs, merged over folders and envs.

    python -m benchmarks.compare runs/hopper/20261126-161000
    python -m benchmarks.compare runs/hopper/part1 runs/hopper/part2 --out runs/hopper/all
    python -m benchmarks.compare runs/hopper/A runs/walker2d/B runs/halfcheetah/C --out runs/all
    python -m benchmarks.compare old_runs/ --env Hopper-v5      # from TensorBoard event files only

Each RUN_DIR is a benchmark's ``--logdir``, or an env folder of ``benchmarks.inner_loop_sweep`` records
(``runs_from_sweep``: its runs of AIHF at today's defaults and of CrossQ on the true reward count as ``aihf``,
``aihf-demos`` and ``sac-true`` on CrossQ). A benchmark's runs are read from ``runs/*.json`` (written as each run
finishes), else from ``results.json``, else from the TensorBoard event files under it (run folders named
``<method>[_prefs<N>]_seed<S>_<k>``, the ``eval/true_return`` scalar; the reference scores then come
from the env's shipped dataset, so pass ``--env``). Runs from several folders are merged, e.g. a long
benchmark split into parts; folders of several envs give one table per env, one over all envs (IQM with
each env a stratum) and the paper's claims over all envs. The statistics go to ``compare.json`` beside the
table and plot (see ``benchmarks.report``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmarks.inner_loop_report import CPU_NET_ARCH, TARGET_ENV_STEPS
from benchmarks.profiles import METHODS
from benchmarks.report import headline, plot, plot_scarcity, report, run_record, save_json_atomically

TB_RUN_NAME = re.compile(r"^(?P<method>[a-z-]+?)(?:_prefs(?P<prefs>\d+))?_seed(?P<seed>\d+)(?:_\d+)?$")


def runs_from_tensorboard(run_dir: Path, refs: dict) -> list[dict]:
    """Runs rebuilt from the ``eval/true_return`` scalars of the TensorBoard event files under ``run_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = []
    for folder in sorted({path.parent for path in run_dir.rglob("events.out.tfevents.*")}):
        match = TB_RUN_NAME.match(folder.name)
        if match is None or match["method"] not in METHODS:
            continue
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        if "eval/true_return" not in events.Tags()["scalars"]:
            continue
        scalars = events.Scalars("eval/true_return")
        start = scalars[0].wall_time if scalars else 0.0
        runs.append(
            run_record(
                match["method"],
                int(match["prefs"]) if match["prefs"] else None,
                int(match["seed"]),
                [0 if match["method"] == "bc" else int(s.step) for s in scalars],
                [float(s.value) for s in scalars],
                [s.wall_time - start for s in scalars],
                refs,
            )
        )
    return runs


# The inner-loop sweep's runs that are a benchmark method's run at today's defaults: variant, --set, method.
# "occupancy" was AIHF's L_demo weighting before "separate_falls": the same loss once the policy no longer falls
# (and always on HalfCheetah, which never terminates); its runs count until a run with today's weighting replaces
# them (``runs_from_sweep``). The docs' inner-loop notes have the paired runs.
SWEEP_METHODS = [
    ("crossq-demo50-renorm5k", {"actor_averaging": None, "demo_loss_weighting": "separate_falls"}, "aihf"),
    ("crossq-demo50-renorm5k", {"actor_averaging": None, "demo_loss_weighting": "occupancy"}, "aihf"),
    ("crossq-true", {"actor_averaging": None}, "sac-true"),
]
# Envs that never terminate, where every L_demo weighting is the same loss: their runs from before the option count.
NEVER_TERMINATE = {"HalfCheetah-v5"}
ACTING_AVERAGE = "0.0002:0.1"  # AveragedActor's defaults (actor_averaging, actor_averaging_warmup)


def runs_from_sweep(folder: Path) -> list[dict]:
    """The runs among ``benchmarks.inner_loop_sweep`` records in ``folder`` that a benchmark would have made.

    Kept: finished 150k runs with [64, 64] nets on the env's shipped ``expert-v0`` data whose variant and
    settings are today's defaults (``SWEEP_METHODS``): AIHFCrossQ (``aihf``, ``aihf-demos`` without preferences)
    and CrossQ on the true reward (``sac-true``, inner learner CrossQ). Their curves are those of the acting
    average (``--averaged-actors 0.0002:0.1``), which is how a benchmark's models act; the sweep's runs acted
    with the current actor (``actor_averaging=None``), which leaves the learning unchanged. Of two runs of the
    same method, preferences and seed, the one with today's L_demo weighting is kept. On an env that never
    terminates (``NEVER_TERMINATE``) AIHF's runs from before the L_demo weighting option count as today's.
    """
    from aihf_control.data import default_dataset_id

    runs = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        extra = dict(record.get("extra", {}))
        if record.get("env") in NEVER_TERMINATE and record.get("variant") != "crossq-true":
            extra.setdefault("demo_loss_weighting", "separate_falls")
        method = next((m for v, e, m in SWEEP_METHODS if v == record.get("variant") and e == extra), None)
        shipped = record.get("demonstrations") in (None, default_dataset_id(record.get("env", ""), "expert"))
        acting = record.get("averaged_actors", {}).get(ACTING_AVERAGE)
        full = (
            record.get("finished")
            and record.get("timesteps") == TARGET_ENV_STEPS
            and record.get("net_arch") == CPU_NET_ARCH
        )
        if method is None or not (shipped and full and acting) or record.get("preference_pool") is not None:
            continue
        refs = record["refs"]
        span = refs["demonstrator"] - refs["random"]
        returns = [refs["random"] + score / 100 * span for score in acting["scores"]]
        num_prefs = record["num_prefs"] if method == "aihf" else None
        if method == "aihf" and num_prefs == 0:
            method, num_prefs = "aihf-demos", None
        run = run_record(method, num_prefs, record["seed"], acting["steps"], returns, record["wall_times"], refs)
        cost = {"wall_seconds": record["seconds"], "env_steps_per_second": record["timesteps"] / record["seconds"]}
        same_run = (record["env"], method, num_prefs, record["seed"])
        todays = extra.get("demo_loss_weighting") != "occupancy"
        if same_run not in runs or todays:
            runs[same_run] = {**run, "env_id": record["env"], "inner": "crossq", **cost}
    return list(runs.values())


def load_runs(run_dir: Path, env_id: str | None) -> list[dict]:
    """The runs of one benchmark folder, each with its ``env_id`` and ``inner`` learner.

    :param run_dir: a benchmark's ``--logdir``
    :param env_id: the env of a folder that does not say (read from its ``command.json`` otherwise)
    """
    records = sorted((run_dir / "runs").glob("*.json"))
    results = run_dir / "results.json"
    if records:
        runs = [json.loads(path.read_text()) for path in records]
    elif results.is_file():
        runs = json.loads(results.read_text())["runs"]
    elif any("variant" in json.loads(path.read_text()) for path in run_dir.glob("*.json")):
        return runs_from_sweep(run_dir)
    elif env_id is None:
        raise SystemExit(f"{run_dir} holds no runs/*.json or results.json: pass --env to read its TensorBoard files")
    else:
        runs = runs_from_tensorboard(run_dir, dataset_refs(env_id))
    folder_env = _env_of(run_dir) or env_id
    for run in runs:  # records of an earlier version say neither
        run.setdefault("env_id", folder_env)
        run.setdefault("inner", "sac")
    return runs


def _env_of(run_dir: Path) -> str | None:
    for name in ("results.json", "command.json"):
        if (run_dir / name).is_file():
            return json.loads((run_dir / name).read_text()).get("env_id")
    return None


def dataset_refs(env_id: str) -> dict:
    from aihf_control.data import default_dataset_id, load_local_dataset

    metadata = load_local_dataset(default_dataset_id(env_id, "expert")).storage.metadata
    return {"demonstrator": metadata.get("ref_max_score"), "random": metadata.get("ref_min_score")}


def main(argv: list[str] | None = None) -> str:
    """Merge the runs of the given folders and write ``results.md``, ``comparison.png`` and ``compare.json``.

    :param argv: the command line without the program name; None reads ``sys.argv``
    :return: the text of ``results.md``
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="benchmark output folders")
    parser.add_argument("--env", default=None, help="env id, needed only for folders with TensorBoard files alone")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the plot and table (default: first RUN_DIR)"
    )
    args = parser.parse_args(argv)
    runs = []
    for run_dir in args.run_dirs:
        if not run_dir.is_dir():
            parser.error(f"{run_dir} is not a folder")
        found = load_runs(run_dir, args.env)
        if not found:
            parser.error(f"no benchmark runs found in {run_dir}")
        runs += found
    if any(run["env_id"] is None for run in runs):
        parser.error("a folder does not say its env (no results.json or command.json): pass --env")
    out = args.out or args.run_dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.compare " + " ".join(str(d) for d in args.run_dirs)
    statistics, table = report(runs, command)
    save_json_atomically({"command": command, **statistics}, out / "compare.json")
    (out / "results.md").write_text(table + "\n")
    plot(runs, out / "comparison.png")
    scarcity = f"{out / 'scarcity.png'}, " if plot_scarcity(runs, out / "scarcity.png") else ""
    print(table)
    print("\n" + headline(statistics["all_envs"] or next(iter(statistics["per_env"].values()), [])))
    print(f"\nwrote {out / 'results.md'}, {out / 'comparison.png'}, {scarcity}{out / 'compare.json'}")
    return table


if __name__ == "__main__":
    main()
