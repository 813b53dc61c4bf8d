"""Scripted demonstrators for small tasks, so examples and tests need nothing trained or downloaded.

Each maps one observation to one action. Measured with ``python -m examples.scripted_experts``
(10 episodes, seeds 0–9): Pendulum-v1 ≈ −132 (random ≈ −1,214); InvertedPendulum-v5 1,000
(the maximum, also with action noise of std 0.3).
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from aihf_control import Demonstrations, record_demonstrations


def pendulum_expert(obs: np.ndarray) -> np.ndarray:
    """Pendulum-v1 swing-up: pump energy until near the top, then a PD controller balances.

    The dynamics are θ̈ = 15 sin θ + 3u (θ = 0 upright), so E = ½θ̇² + 15 cos θ is 15 at rest on
    top and dE/dt = 3uθ̇: pushing along θ̇ while E < 15 swings the pendulum up.
    """
    cos, sin, velocity = obs
    if cos > 0.8:
        torque = -(10.0 * np.arctan2(sin, cos) + 2.0 * velocity)
    else:
        torque = 0.1 * (15.0 - (0.5 * velocity**2 + 15.0 * cos)) * velocity
    return np.clip([torque], -2.0, 2.0)


# A linear controller found by random search over gains, then rounded.
INVERTED_PENDULUM_GAINS = np.array([[1.4, 7.3, 0.85, 1.2]])


def inverted_pendulum_expert(obs: np.ndarray) -> np.ndarray:
    """InvertedPendulum-v5: a linear state-feedback controller that never lets the pole fall.

    Not clipped here: ``expert_demonstrations`` clips after adding noise, MuJoCo clips in the env.
    """
    return INVERTED_PENDULUM_GAINS @ obs


SCRIPTED_EXPERTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Pendulum-v1": pendulum_expert,
    "InvertedPendulum-v5": inverted_pendulum_expert,
}


def expert_demonstrations(env_id: str, n: int, noise: float = 0.0, seed: int = 0) -> Demonstrations:
    """``n`` transitions of the scripted expert for ``env_id``, with Gaussian action noise of std ``noise``."""
    env = gym.make(env_id)
    expert = SCRIPTED_EXPERTS[env_id]
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high

    def noisy_expert(obs: np.ndarray) -> np.ndarray:
        return np.clip(expert(obs) + noise * rng.normal(size=low.shape), low, high)

    return record_demonstrations(env, noisy_expert, n, seed=seed)


def mean_return(env_id: str, policy: Callable[[np.ndarray], np.ndarray] | None, episodes: int = 10) -> float:
    """Mean true return of ``policy`` (None: uniformly random actions) over episodes seeded 0, 1, ..."""
    env, returns = gym.make(env_id), []
    env.action_space.seed(0)
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            action = env.action_space.sample() if policy is None else policy(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


if __name__ == "__main__":
    for env_id, expert in SCRIPTED_EXPERTS.items():
        print(f"{env_id}: scripted expert {mean_return(env_id, expert):.1f}, random {mean_return(env_id, None):.1f}")
