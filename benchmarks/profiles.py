"""The options of ``python -m benchmarks.hopper`` (and halfcheetah, walker2d): AIHF against its ablations,
RLHF, IPL, BC and SAC on the true reward, on the shipped Minari datasets.

For each method, number of preferences and seed, one run: the feedback is loaded (demonstrations from
``aihf/<env>/expert-v0``, preference segments cut from ``aihf/<env>/mixed-v0`` and labelled by a scripted
teacher on the true reward), the model learns for ``--timesteps`` env steps and its true return is
evaluated every ``--eval-freq`` steps. Each run writes a TensorBoard run; at the end the folder holds
``results.json`` (per run: the curve of true return against env steps and wall time, the final return
(mean of the last 3 evaluations), the mean over the last third of the curve, the normalised score (0 =
random policy, 100 = demonstrator, from the dataset's reference scores), env steps and seconds until the
score first reaches 90, env steps per second; and the exact configuration and versions),
``comparison.png`` (curves: interquartile mean over seeds with a 95% bootstrap band) and ``results.md`` (per
method the IQM of the normalised score with 95% stratified-bootstrap CIs, the probability that AIHF beats it,
env steps per second and wall time, then the paper's two claims and whether the CIs support them; printed at
the end, see ``benchmarks.report``); each run's
final model is in ``models/<run>.zip`` and a 3 s video of its policy in ``videos/<run>.mp4`` (``--no-video``
skips the videos; ``python -m aihf_control.play`` replays a model).
``python -m benchmarks.compare RUN_DIR...`` redraws both from earlier runs, also of several envs. ``--help``
ends with the paper-length command on the env (both claims: every method at 500 and 20,000 preferences, 3 seeds)
and its expected CPU-hours, computed from the env steps per second of the newest benchmark under ``runs/<env>/``
at the profile's network size and inner learner (its ``results.json``, or its finished runs while it goes on),
or says that no rate has been measured. The env's true
reward is used for evaluation and by the synthetic teacher only, except by ``sac-true``, the ceiling. While the
runs learn, one line per run in progress shows its env steps, their speed, the latest evaluation and the time
left (plain lines every 30 s when the output is not a terminal; ``--quiet`` hides them).

Methods (quick runs aihf, rlhf and ipl; smoke and paper all but the -batches variants; --methods picks any,
--methods all runs every one):
  aihf          AIHF: reward from demonstrations and preferences jointly, inner learner from random init
  aihf-demos    ablation: demonstrations only (preference term off: ML-IRL)
  aihf-prefs    ablation: preferences only (demo term off), from random init
  rlhf          RLHF: BC init on the demonstrations, Bradley-Terry reward from preferences, SAC
  rlhf-batches  rlhf, plus the demonstrations in every SAC minibatch as aihf gets them (demo_batch_fraction)
  ipl           IPL: BC init, implicit reward Q - γV(s') fitted to preferences (no reward net)
  ipl-batches   ipl, plus the demonstrations in every SAC minibatch as aihf gets them (demo_batch_fraction)
  bc            behaviour cloning of SAC's actor on the demonstrations (no env steps: a flat line)
  sac-true      the inner learner on the env's true reward: the ceiling

--inner sac|tqc|crossq picks the inner learner of aihf, aihf-demos, aihf-prefs (aihf_control.AIHF, AIHFTQC,
AIHFCrossQ) and sac-true (AveragedSAC, AveragedTQC, AveragedCrossQ: SB3 SAC, sb3-contrib TQC and CrossQ acting
as AIHF's learners do); rlhf, ipl, their -batches variants and bc stay
on SAC. The -batches variants use the same demo_batch_fraction as aihf (--demo-batch-fraction, by default
AIHF's own default), so that the reward, not the data use, is what is compared; run.py records the value.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.executors import EXECUTORS, import_ray

METHODS = ("aihf", "aihf-demos", "aihf-prefs", "rlhf", "rlhf-batches", "ipl", "ipl-batches", "bc", "sac-true")
PROFILE_METHODS = ("aihf", "aihf-demos", "aihf-prefs", "rlhf", "ipl", "bc", "sac-true")  # what the profiles run
USES_PREFERENCES = {"aihf", "aihf-prefs", "rlhf", "rlhf-batches", "ipl", "ipl-batches"}
USES_DEMONSTRATIONS = {"aihf", "aihf-demos", "rlhf", "rlhf-batches", "ipl", "ipl-batches", "bc"}
AIHF_FAMILY = ("aihf", "aihf-demos", "aihf-prefs")  # these and sac-true run on --inner; the others on SAC
DEMO_BATCHES = {"aihf", "aihf-demos", "rlhf-batches", "ipl-batches"}  # get demo_batch_fraction
INNER_LEARNERS = ("sac", "tqc", "crossq")
TEACHERS = ("oracle", "stochastic", "mistake", "myopic", "skip", "equal")
DISPLAY_OPTIONS = ("--quiet",)  # change what is printed, not what is run: --resume takes them
# The records the docs' claims tables are built from (one folder per env): what --help's cost estimate reads where
# no benchmark on this machine has measured the setting, e.g. in a fresh clone.
COMMITTED_CLAIMS_RUNS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "claims"


@dataclass
class Profile:
    """Everything a benchmark run needs besides the env; the command-line options override any field."""

    timesteps: int
    seeds: list[int]
    num_demos: int
    num_prefs: list[int]
    eval_freq: int
    eval_episodes: int
    learning_starts: int
    net_arch: list[int]
    alignment_steps: int
    reward_gradient_steps: int
    reward_learning_rate: float
    bc_steps: int
    workers: int
    methods: list[str] = field(default_factory=lambda: list(PROFILE_METHODS))
    teacher: str = "oracle"
    segment_length: int = 50
    preference_weight: float = 1.0  # aihf's weight of the preference term (the demonstration term's is 1)
    inner: str = "sac"  # inner learner of aihf, aihf-demos, aihf-prefs and sac-true: sac, tqc or crossq
    demo_batch_fraction: float | None = None  # of aihf and the -batches variants; None: AIHF's class default
    device: str = "cpu"
    checkpoint_freq: int = 0  # env steps between checkpoints of a run in progress (0: none)
    video: bool = True  # a video of each run's final policy in <logdir>/videos/
    video_seconds: float = 3.0


PROFILES = {
    # Seconds per method: checks that everything runs end to end (a CI test uses it), learns nothing.
    "smoke": Profile(
        timesteps=1_200,
        seeds=[0],
        num_demos=1_000,
        num_prefs=[100],
        eval_freq=600,
        eval_episodes=1,
        learning_starts=400,
        net_arch=[32, 32],
        alignment_steps=400,
        reward_gradient_steps=2,
        reward_learning_rate=3e-4,
        bc_steps=100,
        workers=1,
        video=False,  # keeps the CI test quick (Hopper renders ~0.1 s a frame on a CPU); --video turns it on
        video_seconds=0.5,
    ),
    # `make run`: under 15 minutes on 2 CPU cores, two runs at a time. AIHF on its fastest inner loop
    # (CrossQ, demonstrations in its batches) against RLHF and IPL as the paper runs them (SAC, BC start);
    # every method: --methods all.
    "quick": Profile(
        timesteps=24_000,
        seeds=[0],
        num_demos=10_000,
        num_prefs=[2_000],
        eval_freq=3_000,
        eval_episodes=5,
        learning_starts=2_000,
        net_arch=[64, 64],
        alignment_steps=1_000,
        reward_gradient_steps=20,
        reward_learning_rate=3e-4,
        bc_steps=2_000,
        workers=2,
        checkpoint_freq=8_000,
        methods=["aihf", "rlhf", "ipl"],
        inner="crossq",
    ),
    # The AIHF paper's protocol: 10k demonstration transitions, 20k preferences, 3 seeds, a policy
    # alignment of 5k SAC steps with 5 reward steps at lr 1e-4 (SAC not reset), SB3's default networks.
    "paper": Profile(
        timesteps=300_000,
        seeds=[0, 1, 2],
        num_demos=10_000,
        num_prefs=[20_000],
        eval_freq=10_000,
        eval_episodes=10,
        learning_starts=5_000,
        net_arch=[256, 256],
        alignment_steps=5_000,
        reward_gradient_steps=5,
        reward_learning_rate=1e-4,
        bc_steps=10_000,
        workers=2,
        checkpoint_freq=20_000,
    ),
    # The paper's two claims with the library's defaults at the CPU setting: every method (RLHF and IPL with a BC
    # start, and with AIHF's demonstration batches), 500 and 20,000 preferences, 3 seeds, 150k env steps (the
    # budget within which AIHF reaches its demonstrators), [64, 64] nets, AIHF and sac-true on CrossQ.
    "claims": Profile(
        timesteps=150_000,
        seeds=[0, 1, 2],
        num_demos=10_000,
        num_prefs=[500, 20_000],
        eval_freq=5_000,
        eval_episodes=10,
        learning_starts=5_000,
        net_arch=[64, 64],
        alignment_steps=1_000,
        reward_gradient_steps=20,
        reward_learning_rate=3e-4,
        bc_steps=10_000,
        workers=2,
        checkpoint_freq=25_000,
        methods=list(METHODS),
        inner="crossq",
    ),
}


def build_parser(env_id: str) -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.<env>``.

    :param env_id: the env the benchmark runs on, e.g. ``Hopper-v5``
    """
    module = env_id.split("-")[0].lower()
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{module}",
        description=f"Compare AIHF, its ablations, RLHF, IPL, BC and SAC on the true reward on {env_id}.\n\n"
        + __doc__.split("\n\n", 1)[1],
        epilog=paper_length_cost(env_id) + "\n\n" + paper_length_cost(env_id, profile="claims"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--profile", choices=sorted(PROFILES), default="quick", help="preset of every option below (default: quick)")
    add(
        "--methods",
        nargs="+",
        choices=[*METHODS, "all"],
        default=None,
        help="methods to run, or all (default: the profile's; quick: aihf rlhf ipl; smoke and paper: all but "
        "rlhf-batches and ipl-batches)",
    )
    add(
        "--inner",
        choices=INNER_LEARNERS,
        default=None,
        help="inner learner of aihf, aihf-demos, aihf-prefs (AIHF, AIHFTQC, AIHFCrossQ) and sac-true (SAC, TQC, "
        "CrossQ); rlhf, ipl, their -batches variants and bc stay on SAC (default: sac)",
    )
    add(
        "--demo-batch-fraction",
        type=float,
        default=None,
        help="share of every inner-loop minibatch drawn from the demonstrations, for aihf, aihf-demos, "
        "rlhf-batches and ipl-batches alike (default: AIHF's own default)",
    )
    add("--seeds", nargs="+", type=int, default=None, help="seeds, one run each (profile: smoke/quick 0, paper 0 1 2)")
    add("--timesteps", type=int, default=None, help="env steps per run (profile: 1200 / 30000 / 300000)")
    add("--num-demos", type=int, default=None, help="demonstration transitions (profile: 1000 / 10000 / 10000)")
    add(
        "--num-prefs",
        nargs="+",
        type=int,
        default=None,
        help="labelled segment pairs; several values run the preference-scarcity sweep, e.g. 500 2000 20000 "
        "(profile: 100 / 2000 / 20000)",
    )
    add("--teacher", choices=TEACHERS, default=None, help="scripted teacher of the preferences (default: oracle)")
    add("--eval-freq", type=int, default=None, help="env steps between evaluations of the true return")
    add("--eval-episodes", type=int, default=None, help="episodes per evaluation")
    add("--workers", type=int, default=None, help="runs at a time, one process and one CPU thread each")
    add("--device", default=None, help="torch device of every model: cpu, cuda or auto (default: cpu)")
    add("--logdir", type=Path, default=None, help=f"output folder (default: runs/{module}/<timestamp>)")
    add(
        "--checkpoint-freq",
        type=int,
        default=None,
        help="env steps between checkpoints of each run in progress, 0 for none (profile: 0 / 10000 / 20000)",
    )
    add(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="go on with an interrupted benchmark, with the options it was started with: finished runs are "
        "kept, runs in progress continue from their last checkpoint",
    )
    add(
        "--video",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a video of each run's final policy in <logdir>/videos/; --no-video skips it (profile: off in smoke)",
    )
    add("--executor", choices=EXECUTORS, default="local", help="local: this machine; ray: one Ray task per run")
    add("--ray-address", default=None, help="Ray cluster to join, e.g. auto (default: start Ray on this machine)")
    add("--gpus-per-run", type=float, default=0.0, help="GPUs each Ray task declares, e.g. 0.25 (default: 0)")
    add("--quiet", action="store_true", help="no progress lines while the runs learn (the results are printed)")
    return parser


def measured_rates(
    env_id: str,
    runs_root: Path = Path("runs"),
    profile: str = "paper",
    committed_root: Path | None = COMMITTED_CLAIMS_RUNS,
) -> tuple[dict[str, float], Path | None]:
    """Env steps per second per method, from the newest benchmark folder of this env measured at ``profile``'s
    network size and inner learner (``<runs_root>/<env>/*/``, as the default ``--logdir``): its
    ``results.json``, or, for a benchmark still in progress or split into parts, the records of its finished
    runs (``runs/*.json``) with the setting of its ``command.json``. Where there is none, the committed records
    of ``<committed_root>/<env_id>`` (the docs' claims runs) when they are at that setting.

    :param env_id: the env, e.g. ``Hopper-v5``
    :param runs_root: where the benchmarks wrote their folders
    :param profile: the profile whose network size and inner learner the rates must be measured at
    :param committed_root: the folder of committed benchmark records, one folder per env; None: not read
    :return: the mean rate of each method's runs, and the file or folder they come from (``{}``, None if none)
    """
    module = env_id.split("-")[0].lower()
    wanted = PROFILES[profile]
    folders = {
        path.parent for name in ("results.json", "command.json") for path in (runs_root / module).glob(f"*/{name}")
    }
    newest_first = sorted(folders, key=lambda path: path.stat().st_mtime, reverse=True)
    committed = _committed_folder(committed_root, env_id)
    if committed is not None:
        newest_first.append(committed)
    for folder in newest_first:
        try:
            net_arch, inner, runs, source = _setting_and_runs(folder)
        except (OSError, json.JSONDecodeError, KeyError, ValueError):
            continue
        if net_arch != wanted.net_arch or inner != wanted.inner:
            continue
        rates: dict[str, list[float]] = {}
        for run in runs:
            if rate := training_rate(run, wanted.learning_starts):
                rates.setdefault(run["method"], []).append(rate)
        if rates:
            return {method: sum(values) / len(values) for method, values in rates.items()}, source
    return {}, None


def training_rate(run: dict, learning_starts: int) -> float | None:
    """Env steps per second of a run record once it learns: between its first evaluation at or after
    ``learning_starts`` and its last, evaluations included. The random steps before ``learning_starts`` go many
    times faster, so the whole run's rate would make a short measurement (e.g. 20k env steps, 5k of them random)
    promise a long run far sooner than it ends. Records with fewer than two such evaluations give their
    ``env_steps_per_second``; ``bc`` (no env steps) gives None.

    :param run: a run record (``runs/<run>.json``, or a row of ``results.json``'s ``runs``)
    :param learning_starts: the profile's random steps before learning
    """
    steps, times = run.get("steps", []), run.get("wall_times", [])
    if len(steps) == len(times):
        learning = [(s, t) for s, t in zip(steps, times, strict=True) if s >= learning_starts]
        if len(learning) >= 2 and learning[-1][1] > learning[0][1]:
            (first_step, first_time), (last_step, last_time) = learning[0], learning[-1]
            return (last_step - first_step) / (last_time - first_time)
    return run.get("env_steps_per_second")


def _committed_folder(committed_root: Path | None, env_id: str) -> Path | None:
    """``<committed_root>/<env_id>`` when it holds committed benchmark records (its ``command.json`` says their
    setting); None where it does not or ``committed_root`` is None. One check for reading and for naming it."""
    if committed_root is not None and (committed_root / env_id / "command.json").is_file():
        return committed_root / env_id
    return None


def _setting_and_runs(folder: Path) -> tuple[list[int], str, list[dict], Path]:
    """(network size, inner learner, run records, where they were read) of a benchmark folder: the records of
    ``runs/*.json`` (every finished run, also of a benchmark split into parts) with the setting of its newest
    ``command.json``; else ``results.json``, written when a call ends."""
    records = sorted((folder / "runs").glob("*.json"))
    if records and (folder / "command.json").is_file():
        argv = json.loads((folder / "command.json").read_text())["argv"]
        # The network size comes with the profile alone; the inner learner with the profile or --inner.
        chosen = PROFILES[argv[argv.index("--profile") + 1] if "--profile" in argv else "quick"]
        inner = argv[argv.index("--inner") + 1] if "--inner" in argv else chosen.inner
        return chosen.net_arch, inner, [json.loads(path.read_text()) for path in records], folder / "runs"
    data = json.loads((folder / "results.json").read_text())
    config = data.get("config", {})
    return config.get("net_arch"), config.get("inner", "sac"), data.get("runs", []), folder / "results.json"


def paper_length_cost(
    env_id: str,
    runs_root: Path = Path("runs"),
    profile: str = "paper",
    committed_root: Path | None = COMMITTED_CLAIMS_RUNS,
) -> str:
    """The command that tests both claims on ``env_id`` (every method, 500 and 20,000 preferences, the profile's
    seeds and env steps) with its expected CPU-hours, from measured rates where there are any.

    :param env_id: the env, e.g. ``Hopper-v5``
    :param runs_root: where earlier benchmarks wrote their folders (see :func:`measured_rates`)
    :param profile: ``"paper"`` (the paper's protocol) or ``"claims"`` (the library's defaults on a CPU)
    :param committed_root: committed records to read where ``runs_root`` has none (see :func:`measured_rates`)
    :return: the text that ``--help`` ends with
    """
    module = env_id.split("-")[0].lower()
    chosen = PROFILES[profile]
    counts = [500, 20_000]
    command = f"python -m benchmarks.{module} --profile {profile}"
    if chosen.num_prefs != counts or chosen.methods != list(METHODS):
        command += f" --num-prefs 500 20000 --methods {' '.join(METHODS)}"
    runs = {m: len(chosen.seeds) * (len(counts) if m in USES_PREFERENCES else 1) for m in METHODS}
    env_steps = {m: 0 if m == "bc" else runs[m] * chosen.timesteps for m in METHODS}
    setting = f"{chosen.timesteps:,} env steps, {chosen.net_arch} nets, AIHF on {chosen.inner}"
    text = (
        f"Both claims on {env_id}, profile {profile} ({setting}; {sum(runs.values())} runs, "
        f"{sum(env_steps.values()) / 1e6:.1f}M env steps):\n  {command}\n"
    )
    rates, source = measured_rates(env_id, runs_root, profile, committed_root)
    if not rates:
        measure = f"python -m benchmarks.{module} --profile {profile} --num-prefs 500 --methods {' '.join(METHODS)}"
        committed = _committed_folder(committed_root, env_id)
        searched = [runs_root / module] + ([committed] if committed is not None else [])
        return text + (
            f"Expected CPU-hours: not measured (no finished run under {' or '.join(map(str, searched))} at this "
            f"profile's network size {chosen.net_arch} and inner learner {chosen.inner}); a short measurement: "
            f"{measure} --seeds 0 "
            "--timesteps 20000 --eval-freq 10000 --no-video"
        )
    # An unmeasured method is assumed as fast as a measured one on the same learner: a -batches variant as its
    # base method; the AIHF family and sac-true (all on --inner) as their measured mean; else the lower median
    # of all rates, so that the estimate errs long.
    same_learner = [rates[m] for m in (*AIHF_FAMILY, "sac-true") if m in rates]
    fallback = sorted(rates.values())[(len(rates) - 1) // 2]

    def rate(method: str) -> float:
        if method.removesuffix("-batches") in rates:
            return rates[method.removesuffix("-batches")]
        if method in (*AIHF_FAMILY, "sac-true") and same_learner:
            return sum(same_learner) / len(same_learner)
        return fallback

    assumed = [m for m in METHODS if env_steps[m] and m.removesuffix("-batches") not in rates]
    seconds = sum(steps / rate(m) for m, steps in env_steps.items() if steps)
    by_learner = [m for m in assumed if m in (*AIHF_FAMILY, "sac-true") and same_learner]
    by_median = [m for m in assumed if m not in by_learner]
    note = "".join(
        f"; unmeasured, {', '.join(names)} {how}"
        for names, how in (
            (by_learner, "at the rate of the measured runs on their learner"),
            (by_median, "at the lower median rate"),
        )
        if names
    )
    return text + (
        f"Expected: {seconds / 3600:,.0f} CPU-hours (one run per core; wall time = that / --workers), from the "
        f"env steps per second measured in {source}{note}"
    )


def resolve_profile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Profile:
    """The profile named by ``--profile`` with the options given on the command line, checked.

    :param args: the parsed command line
    :param parser: its parser, whose ``error`` reports a bad option and exits
    """
    profile = Profile(**asdict(PROFILES[args.profile]))
    for name in ("methods", "seeds", "timesteps", "num_demos", "num_prefs", "teacher", "eval_freq", "eval_episodes"):
        if getattr(args, name) is not None:
            setattr(profile, name, getattr(args, name))
    for name in ("workers", "device", "video", "checkpoint_freq", "inner", "demo_batch_fraction"):
        if getattr(args, name) is not None:
            setattr(profile, name, getattr(args, name))
    if "all" in profile.methods:
        profile.methods = list(METHODS)
    for name in ("timesteps", "num_demos", "eval_freq", "eval_episodes", "workers"):
        if getattr(profile, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(profile, name)}")
    if profile.checkpoint_freq < 0:
        parser.error(f"--checkpoint-freq must be 0 (no checkpoints) or positive, got {profile.checkpoint_freq}")
    if profile.demo_batch_fraction is not None and not 0 <= profile.demo_batch_fraction < 1:
        parser.error(f"--demo-batch-fraction must be in [0, 1), got {profile.demo_batch_fraction}")
    if min(profile.num_prefs) < 1:
        parser.error(f"--num-prefs must be at least 1, got {profile.num_prefs}")
    if profile.eval_freq > profile.timesteps:
        parser.error(
            f"--eval-freq {profile.eval_freq} is above --timesteps {profile.timesteps}: nothing would be evaluated"
        )
    if args.executor == "ray":
        try:
            import_ray()
        except ImportError as error:
            parser.error(f"--executor ray: {error}")
    elif args.ray_address is not None or args.gpus_per_run:
        parser.error("--ray-address and --gpus-per-run need --executor ray")
    return profile


def saved_arguments(run_dir: Path, argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """The options a benchmark in ``run_dir`` was started with, for ``--resume run_dir``.

    :param run_dir: the benchmark's ``--logdir``, holding the ``command.json`` it wrote at its start
    :param argv: this call's options: ``--resume RUN_DIR`` and display options such as ``--quiet``
    :param parser: the benchmark's parser, whose ``error`` reports a bad option and exits
    :return: the saved options, then the display options of ``argv``, then ``--logdir run_dir``
    """
    display = [a for a in argv if a in DISPLAY_OPTIONS]
    others = [a for a in argv if a.startswith("-") and not a.startswith("--resume") and a not in DISPLAY_OPTIONS]
    if others:
        parser.error(f"--resume takes no other options (got {' '.join(others)}): the run's own are reused")
    saved = run_dir / "command.json"
    try:
        command = json.loads(saved.read_text())
    except FileNotFoundError:
        parser.error(
            f"--resume {run_dir}: no command.json there; pass the output folder of an earlier benchmark "
            f"(runs/{parser.prog.rsplit('.', 1)[-1]}/<timestamp>)"
        )
    except (OSError, json.JSONDecodeError) as e:
        parser.error(f"--resume {run_dir}: {saved} is unreadable ({e}); start the benchmark again with --logdir")
    if parser.prog != f"python -m benchmarks.{command['env_id'].split('-')[0].lower()}":
        parser.error(f"--resume {run_dir}: that folder holds a {command['env_id']} benchmark, not this one")
    saved_argv = [a for a in command["argv"] if a not in DISPLAY_OPTIONS]
    if "--logdir" in saved_argv:  # the folder may have moved since: it is run_dir now
        del saved_argv[saved_argv.index("--logdir") : saved_argv.index("--logdir") + 2]
    return [*saved_argv, *display, "--logdir", str(run_dir)]
