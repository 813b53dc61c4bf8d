"""The inner-loop sweep's report: per-run summaries and the seeds-together check against the targets."""

from __future__ import annotations

import pytest
import torch

from benchmarks.inner_loop_report import summary, targets, targets_table
from benchmarks.inner_loop_sweep import build_model


def record(seed: int, scores: list[float], variant: str = "crossq-demo50", finished: bool = True) -> dict:
    steps = [5_000 * (i + 1) for i in range(len(scores))]
    return {
        "env": "Hopper-v5",
        "variant": variant,
        "seed": seed,
        "num_prefs": 500,
        "extra": {},
        "demonstrations": "aihf/hopper/expert-v0",
        "steps": steps,
        "scores": scores,
        "wall_times": [10.0 * (i + 1) for i in range(len(scores))],
        "seconds": 10.0 * len(scores),
        "finished": finished,
    }


def test_summary_finds_the_first_90_and_the_drop_after_it():
    s = summary(record(0, [10, 95, 40, 100, 98, 99]))
    assert s["steps_to_90"] == 10_000 and s["min_after_90"] == 40 and s["last_third"] == pytest.approx(98.5)
    assert s["drops_after_90"] == 1


def test_seeds_are_averaged_and_a_drop_in_one_seed_is_judged_on_the_mean():
    full = 30  # 150k env steps at one evaluation per 5k
    a = record(0, [50] + [100] * (full - 1))
    b = record(1, [50] + [100] * 9 + [0] + [100] * (full - 11))  # one seed falls once, to 0
    c = record(2, [50, 60])  # stopped early: named, not averaged
    (row,) = targets([a, b, c])
    assert row["seeds"] == [0, 1] and row["left_out"] == [(2, 10_000)]
    assert row["steps_to_90"] == 10_000 and row["min_after_90"] == pytest.approx(50.0)
    assert row["last_third_ci"] is not None
    table = targets_table([row])
    assert "seed 2 left out: 10k" in table and "**not met**" in table  # the mean's 50 is below 60


def test_set_overrides_reach_the_true_reward_reference_and_keep_the_sweeps_net_arch():
    gym = pytest.importorskip("gymnasium")
    model = build_model("crossq-true", gym.make("Hopper-v5"), None, None, [16, 16], 0, {"learning_rate": 3e-4})
    assert model.learning_rate == 3e-4 and model.policy_kwargs["net_arch"] == [16, 16]


def test_the_true_reward_reference_is_the_inner_loop_of_aihf_crossq():
    gym = pytest.importorskip("gymnasium")
    model = build_model("crossq-true", gym.make("Hopper-v5"), None, None, [16, 16], 0, {})
    assert model.averaged_actor is not None and model.actor_averaging == 0.0002
    assert {m.warmup_steps for m in model.policy.modules() if hasattr(m, "warmup_steps")} == {5_000}


def test_the_perfect_reward_reference_gets_demonstration_rows_with_the_rewards_the_dataset_recorded():
    gym = pytest.importorskip("gymnasium")
    from aihf_control.data import load_demonstrations, load_trajectories
    from benchmarks.inner_loop_sweep import attach_rewarded_demonstrations, reference_demo_fraction

    env = gym.make("Hopper-v5")
    demos = load_demonstrations("aihf/hopper/expert-v0", env=env, num_transitions=300, seed=1)
    episodes = load_trajectories("aihf/hopper/expert-v0", env=env)
    model = build_model("crossq-true-demo50", env, demos, None, [16, 16], 0, {"learning_starts": 10})
    assert reference_demo_fraction("crossq-true-demo50", {}) == 0.5
    assert reference_demo_fraction("crossq-demo50-renorm5k", {}) == 0.0  # AIHF's rows get r_θ, not env rewards
    attach_rewarded_demonstrations(model, demos, episodes, 0.5)
    model.learn(40)
    batch = model.replay_buffer.sample(64)
    own, demo = batch.rewards[:32].flatten(), batch.rewards[32:].flatten()
    assert not demo.isnan().any() and (own != 0).all()
    # each demonstration row's reward is the one recorded at that (s, a) in the dataset's episodes
    by_row = {(tuple(o), tuple(a)): r for t in episodes for o, a, r in zip(t.obs, t.acts, t.rewards, strict=True)}
    first = demos.obs[0], demos.acts[0]
    rows = model.replay_buffer.demo_rows
    assert rows.rewards[0].item() == pytest.approx(by_row[tuple(first[0]), tuple(first[1])])
    with pytest.raises(ValueError, match="not in the dataset"):
        attach_rewarded_demonstrations(model, demos, episodes[:1], 0.5)


def test_averaged_actors_are_measured_alongside_and_reported_as_runs_of_their_own(tmp_path, capsys):
    import json

    from benchmarks.inner_loop_report import read_records, suffix
    from benchmarks.inner_loop_sweep import main

    # a run stopped before its first checkpoint left an empty folder: it starts again and is not called resumed
    stem = "crossq-demo50-renorm5k_actor_averagingNone_learning_starts200_net16x16_steps1200_prefs0_seed0"
    (tmp_path / "Hopper-v5" / f"{stem}.checkpoints").mkdir(parents=True)
    main(
        [
            "--env",
            "Hopper-v5",
            "--variants",
            "crossq-demo50-renorm5k",
            "--timesteps",
            "1200",
            "--eval-freq",
            "600",
            "--eval-episodes",
            "1",
            "--num-demos",
            "500",
            "--net-arch",
            "16",
            "16",
            "--set",
            "actor_averaging=null",
            "learning_starts=200",
            "--averaged-actors",
            "0.01",
            "0.01:0.1",
            "--logdir",
            str(tmp_path),
        ]
    )
    assert "1 to run (0 resumed from a checkpoint)" in capsys.readouterr().out
    (path,) = (tmp_path / "Hopper-v5").glob("*.json")
    assert path.stem == stem
    stored = json.loads(path.read_text())
    assert stored["actor_averaging"] is None and stored["averaged_actors"]["0.01"]["steps"] == [600, 1200]
    assert stored["averaged_actors"]["0.01:0.1"]["scores"] != stored["averaged_actors"]["0.01"]["scores"]
    runs = read_records(tmp_path / "Hopper-v5")
    assert sorted(suffix(r) for r in runs) == [
        " actor_averaging=0.01 actor_averaging_warmup=0.1 learning_starts=200 net_arch=[16, 16]",
        " actor_averaging=0.01 learning_starts=200 net_arch=[16, 16]",
        " actor_averaging=None learning_starts=200 net_arch=[16, 16]",
    ]
    assert [len(r["scores"]) for r in runs] == [2, 2, 2]


@pytest.mark.parametrize("spec", ["fast", "0.01:x", "0:0.1", "0.01:2"])
def test_an_averaged_actor_spec_that_is_not_tau_or_tau_warmup_is_refused(spec, capsys):
    from benchmarks.inner_loop_sweep import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--averaged-actors", spec])
    assert "TAU" in capsys.readouterr().err


def test_the_schedule_sweep_evaluates_averages_of_a_crossq_actor_alongside(tmp_path, monkeypatch):
    import json
    import sys

    from benchmarks import schedule_sweep

    out = tmp_path / "sweep.json"
    argv = [
        "schedule_sweep",
        "--variants",
        "default",
        "--seeds",
        "0",
        "--inner",
        "crossq",
        "--timesteps",
        "600",
        "--eval-freq",
        "300",
        "--num-demos",
        "200",
        "--learning-starts",
        "100",
        "--averaged-actors",
        "0.0002:0.1",
        "--json",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    schedule_sweep.main()
    (run,) = json.loads(out.read_text())["results"]
    assert [s for s, _ in run["averaged_actors"]["0.0002:0.1"]["curve"]] == [300, 600]
    assert run["kwargs"] == {} and run["final_return"] != run["averaged_actors"]["0.0002:0.1"]["final_return"]


def test_the_schedule_sweeps_settings_win_over_the_variants(tmp_path, monkeypatch):
    import json
    import sys

    from aihf_control import AIHF
    from benchmarks import schedule_sweep

    built = []

    class RecordedAIHF(AIHF):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(schedule_sweep, "AIHF", RecordedAIHF)
    out = tmp_path / "sweep.json"
    argv = ["schedule_sweep", "--variants", "1k-20", "--seeds", "0", "--timesteps", "200", "--eval-freq", "200"]
    argv += ["--num-demos", "200", "--learning-starts", "100", "--json", str(out)]
    argv += ["--set", "reward_gradient_penalty=10", "demo_batch_fraction=0.25"]  # 1k-20 sets 0 and 0
    monkeypatch.setattr(sys, "argv", argv)
    schedule_sweep.main()
    (model,) = built
    assert model.reward_gradient_penalty == 10.0 and model.demo_batch_fraction == 0.25
    assert model.reward_gradient_steps == 20  # the variant's own settings stay
    (run,) = json.loads(out.read_text())["results"]
    assert run["kwargs"]["reward_gradient_penalty"] == 10 and run["kwargs"]["demo_batch_fraction"] == 0.25


@pytest.mark.parametrize(
    ("setting", "message"),
    [("demo_loss_weighting=occupancy", "must be JSON"), ("reward_gradient_penalty", "KEY=VALUE"), ("=1", "KEY=VALUE")],
)
def test_a_setting_that_is_not_key_json_value_is_refused(setting, message, capsys):
    from benchmarks.inner_loop_sweep import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--set", setting])
    assert message in capsys.readouterr().err


def test_settings_are_parsed_as_json():
    from benchmarks.inner_loop_sweep import parse_args

    args = parse_args(["--set", "actor_averaging=null", 'demo_loss_weighting="occupancy"', "reward_bound=20"])
    assert dict(args.set) == {"actor_averaging": None, "demo_loss_weighting": "occupancy", "reward_bound": 20}


def test_a_resumed_run_goes_on_with_the_averages_it_had(tmp_path, monkeypatch):
    import shutil

    import benchmarks.inner_loop_sweep as sweep
    from aihf_control.sb3 import read_checkpoint_state

    def run(logdir, timesteps: int) -> None:
        arguments = "--env Hopper-v5 --variants crossq-demo50-renorm5k --eval-freq 300 --eval-episodes 1 "
        arguments += "--num-demos 500 --net-arch 16 16 --checkpoint-freq 300 --averaged-actors 0.01:0.1 "
        arguments += "--set actor_averaging=null learning_starts=100"
        sweep.main([*arguments.split(), "--timesteps", str(timesteps), "--logdir", str(logdir)])

    # a run stopped at its checkpoint at 300 env steps: that of a 300-step run, kept, resumed as a 600-step run
    with monkeypatch.context() as patched:
        patched.setattr(sweep.shutil, "rmtree", lambda *args, **kwargs: None)
        run(tmp_path / "first_half", 300)
    (kept,) = (tmp_path / "first_half" / "Hopper-v5").glob("*.checkpoints")
    saved = read_checkpoint_state(kept)["extra"]["averages"]["0.01:0.1"]
    stem = kept.name.replace("_steps300_", "_steps600_").removesuffix(".checkpoints")
    shutil.copytree(kept, tmp_path / "resumed" / "Hopper-v5" / f"{stem}.checkpoints")

    at_start = {}
    start = sweep.AveragedActors._on_training_start

    def record_the_start(self) -> None:
        start(self)
        at_start["average"] = {k: v.clone() for k, v in self.averages["0.01:0.1"].state_dict().items()}
        at_start["actor"] = {k: v.clone() for k, v in self.model.policy.actor.state_dict().items()}

    monkeypatch.setattr(sweep.AveragedActors, "_on_training_start", record_the_start)
    run(tmp_path / "resumed", 600)
    assert (tmp_path / "resumed" / "Hopper-v5" / f"{stem}.json").is_file()
    average, actor = at_start["average"], at_start["actor"]
    assert all(torch.equal(average[k], torch.tensor(v, dtype=average[k].dtype)) for k, v in saved.items())
    assert any(not torch.equal(average[k], actor[k]) for k in average)  # not started anew from the actor
