"""Where a checkpointed AIHF run's reward sits: r_θ on its replay buffer (by blocks of env steps), on the
demonstrations, and the absorbing state's reward, next to the falls per block and ``reward_bound``; and how well
r_θ follows the env's reward on the replayed rows (their correlation per block; the env's reward is read here
to judge r_θ, never to learn).

A reward whose every value sits near ``-reward_bound`` makes falling as cheap as staying up (the design notes:
"A second Walker2d demonstrator"). Reads a checkpoint folder as ``ResumableCheckpointCallback`` writes them
(``benchmarks.inner_loop_sweep`` keeps the newest under ``<run>.checkpoints/`` until the run ends):

    python -m benchmarks.reward_levels runs/inner_loop_sweep/Walker2d-v5/<run>.checkpoints --env Walker2d-v5 \\
        --demonstrations aihf/walker2d/expert-v1

``--rows-from`` reads the replay rows of another run's checkpoint instead (any SB3 learner on the same env, e.g.
one trained on the true reward): does r_θ rate a stronger policy's steps above its own policy's?
``--observation-bins INDEX EDGE ...`` adds r_θ and the env's reward by bins of one observation dimension, and how
the rows and the demonstrations fall into them (e.g. HalfCheetah's body angle, index 1: is the policy on its back?):

    python -m benchmarks.reward_levels <checkpoint> --env HalfCheetah-v5 --observation-bins 1 -1.5 -0.5 0.5 1.5
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

import aihf_control
from aihf_control.algos.aihf.reward_learning import AIHFRewardLearning
from aihf_control.algos.aihf.reward_metrics import correlation
from aihf_control.data import default_dataset_id, load_demonstrations
from aihf_control.sb3 import checkpoint_folder, read_checkpoint_state


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint folder (step_...) or a folder of them (the newest is read)")
    parser.add_argument("--env", required=True, help="the run's env id, e.g. Walker2d-v5")
    parser.add_argument("--demonstrations", help="Minari id of the demonstrations (default: aihf/<env>/expert-v0)")
    parser.add_argument("--block", type=int, default=10_000, help="env steps per row of the table")
    parser.add_argument(
        "--rows-from", help="judge the replay rows of this checkpoint (another run on the same env) instead of its own"
    )
    parser.add_argument(
        "--observation-bins",
        nargs="+",
        type=float,
        metavar="INDEX EDGE",
        help="an observation dimension and increasing bin edges: r_θ and the env's reward by bin of its value",
    )
    args = parser.parse_args(argv)
    bins = args.observation_bins
    if bins is not None and (len(bins) < 2 or not bins[0].is_integer() or list(bins[1:]) != sorted(set(bins[1:]))):
        parser.error(f"--observation-bins takes an index and increasing edges, e.g. 1 -1.5 -0.5 0.5 1.5; got {bins}")
    torch.set_num_threads(1)
    try:
        folder = checkpoint_folder(args.checkpoint)
        rows_folder = checkpoint_folder(args.rows_from) if args.rows_from else folder
    except FileNotFoundError as e:
        parser.error(str(e))
    name = read_checkpoint_state(folder)["algorithm"]
    algorithm = getattr(aihf_control, name, None)
    if not (isinstance(algorithm, type) and issubclass(algorithm, AIHFRewardLearning)):
        parser.error(f"{folder} is a checkpoint of {name}, not of an AIHF model")
    model = algorithm.load(folder / "model.zip", device="cpu")
    env = gym.make(args.env)
    buffer = np.load(rows_folder / "replay_buffer.npz", allow_pickle=False)
    sizes = (buffer["observations"].shape[-1], buffer["actions"].shape[-1])
    if sizes != (env.observation_space.shape[0], env.action_space.shape[0]):
        parser.error(
            f"the replay rows of {rows_folder} have {sizes[0]} observation and {sizes[1]} action dimensions, "
            f"{args.env} has {env.observation_space.shape[0]} and {env.action_space.shape[0]}: give a run on {args.env}"
        )
    if bins is not None and not 0 <= bins[0] < env.observation_space.shape[0]:
        parser.error(
            f"--observation-bins: {bins[0]:g} is not an observation dimension of {args.env} "
            f"(0 to {env.observation_space.shape[0] - 1})"
        )
    # rows in the order they were added; with several envs, each row holds one step of every env
    obs = torch.as_tensor(buffer["observations"].reshape(-1, env.observation_space.shape[0]), dtype=torch.float32)
    env_actions = model.policy.unscale_action(buffer["actions"].reshape(-1, env.action_space.shape[0]))
    actions = torch.as_tensor(env_actions, dtype=torch.float32)
    falls = (buffer["dones"] * (1 - buffer["timeouts"])).reshape(-1)
    env_rewards = buffer["rewards"].reshape(-1)  # the env's reward, read here to judge r_θ, never to learn
    demos = load_demonstrations(
        args.demonstrations or default_dataset_id(args.env, "expert"), env=env, num_transitions=10_000, seed=0
    )
    net = model.reward_net
    with torch.no_grad():
        rewards = net(obs, actions).numpy()
        demo_rewards = net(torch.as_tensor(demos.obs), torch.as_tensor(demos.acts)).numpy()
        absorbing = float(net.absorbing_reward())
    print(f"{folder} ({model.num_timesteps:,} env steps): reward_bound {net.reward_bound:g}, r_abs {absorbing:.2f}")
    if rows_folder != folder:
        print(f"replay rows of {rows_folder}")
    print(f"r on the demonstrations: mean {demo_rewards.mean():.2f} (min {demo_rewards.min():.2f})")
    print(
        "| replay rows | mean r | min r | max r | falls | mean env reward | corr(r, env reward) |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    correlations = []
    for start in range(0, len(rewards), args.block):
        block = slice(start, start + args.block)
        correlations.append(correlation(rewards[block], env_rewards[block]))
        print(
            f"| {start:,}–{min(start + args.block, len(rewards)):,} | {rewards[block].mean():.2f} | "
            f"{rewards[block].min():.2f} | {rewards[block].max():.2f} | {int(falls[block].sum())} | "
            f"{env_rewards[block].mean():.2f} | {correlations[-1]:.2f} |"
        )
    levels = {
        "absorbing": absorbing,
        "demo_mean": float(demo_rewards.mean()),
        "policy_rewards": rewards,
        "correlations": correlations,
    }
    if bins is not None:
        levels["bins"] = observation_bins(
            obs.numpy(), rewards, env_rewards, demos.obs, int(bins[0]), bins[1:], args.block
        )
    return levels


def observation_bins(
    obs: np.ndarray,
    rewards: np.ndarray,
    env_rewards: np.ndarray,
    demo_obs: np.ndarray,
    index: int,
    edges: list[float],
    block: int,
) -> list[dict]:
    """Print and return, for each bin of ``obs[:, index]`` (below the first edge, between edges, from the last
    one up), the share of the replay rows in it per block of ``block`` rows, the demonstrations' share, and the mean
    r_θ and env reward of the rows in it.

    :param obs: (N, obs_dim) replay observations, in the order they were added
    :param rewards: (N,) r_θ of the rows
    :param env_rewards: (N,) the env's reward of the rows
    :param demo_obs: (D, obs_dim) demonstrated observations
    :param index: the observation dimension
    :param edges: increasing bin edges
    :param block: rows per share
    """
    which = np.digitize(obs[:, index], edges)  # (N,) bin of each row: 0 below edges[0], len(edges) from the last
    demo_which = np.digitize(demo_obs[:, index], edges)
    bounds = [-np.inf, *edges, np.inf]
    print(
        f"\n| obs[{index}] | share of the rows, by block of {block:,} | share of the demonstrations | mean r | "
        "mean env reward |\n|---|---|---:|---:|---:|"
    )

    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f}"

    table = []
    for b in range(len(edges) + 1):
        rows = which == b
        shares = [float(rows[start : start + block].mean()) for start in range(0, len(rows), block)]
        row = {
            "bin": (bounds[b], bounds[b + 1]),
            "shares": shares,
            "demo_share": float((demo_which == b).mean()),
            "mean_r": float(rewards[rows].mean()) if rows.any() else None,
            "mean_env_reward": float(env_rewards[rows].mean()) if rows.any() else None,
        }
        table.append(row)
        print(
            f"| [{bounds[b]:g}, {bounds[b + 1]:g}) | {', '.join(f'{x:.2f}' for x in shares)} | "
            f"{row['demo_share']:.2f} | {fmt(row['mean_r'])} | {fmt(row['mean_env_reward'])} |"
        )
    return table


if __name__ == "__main__":
    main()
