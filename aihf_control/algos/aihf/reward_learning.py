"""AIHF's outer loop — the reward learned jointly from demonstrations and preferences — as a mixin for
SB3's off-policy learners (``class AIHF(AIHFRewardLearning, SAC)``; TQC and CrossQ alike).

Glue only: the objective is in ``aihf_control.rewards.losses``, the reward net in
``aihf_control.rewards.nets``, the relabelling and the demonstration rows in ``aihf_control.sb3.relabel_buffer``.
Next to this file: the feedback's checks and tensors (``feedback``), the agent's recent steps (``recent_steps``),
the joint loss on one drawn batch (``reward_step``), the logged reward metrics (``reward_metrics``) and the NaN/inf
checks (``nonfinite_checks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import maybe_make_env

from aihf_control.algos.aihf.feedback import (
    FeedbackTensors,
    check_feedback_arguments,
    check_usable_feedback,
    feedback_tensors,
)
from aihf_control.algos.aihf.nonfinite_checks import (
    check_finite_inner_losses,
    check_finite_observations,
    check_finite_relabelled_rewards,
    check_finite_reward_gradients,
    check_finite_reward_loss,
)
from aihf_control.algos.aihf.recent_steps import PolicyTransitions, recent_episodes, recent_transitions
from aihf_control.algos.aihf.reward_metrics import reward_metrics
from aihf_control.algos.aihf.reward_step import joint_reward_loss
from aihf_control.data.defaults import shipped_feedback
from aihf_control.data.demos import Demonstrations
from aihf_control.data.online import OnlinePreferenceGatherer
from aihf_control.data.preferences import Preferences
from aihf_control.data.teachers import ScriptedTeacher
from aihf_control.rewards.nets import RewardNet
from aihf_control.sb3.actor_rows import actor_gradient_from_own_rows
from aihf_control.sb3.checkpoint import keep_last_good
from aihf_control.sb3.model_files import CheckedLoad, read_saved_data
from aihf_control.sb3.relabel_buffer import RelabelingReplayBuffer, attach_demonstrations, attach_segments
from aihf_control.validation import (
    NonFiniteError,
    check_continuous_actions,
    check_flat_box,
    check_policy_net_arch,
    check_reward_learning_arguments,
)

SelfRewardLearning = TypeVar("SelfRewardLearning", bound="AIHFRewardLearning")


class AIHFRewardLearning(CheckedLoad):
    """AIHF's reward learning (arXiv 2406.06874), mixed into an SB3 off-policy learner: the outer loop.

    Bi-level and single-stage: the inner learner (SAC, TQC or CrossQ) is trained on a learned reward
    r_θ(s, a) ("policy alignment"), and every ``alignment_steps`` env steps the reward takes
    ``reward_gradient_steps`` Adam steps on the joint loss

        L(θ) = demo_weight · L_demo + preference_weight · L_pref   (+ weight decay)

    where L_demo = -(mean r_θ(demo) - mean r_θ(recent policy transitions)) is ML-IRL and
    L_pref is the Bradley–Terry loss on segment returns. ``preferences=None`` gives pure
    ML-IRL, ``demonstrations=None`` pure preference-based RL (the RLHF reward loss). The inner
    learner is never reset between reward updates. The env's true reward is never used for learning:
    it stays in the replay buffer and the Monitor for logging only.

    Demonstrations in the inner loop's batches: ``demo_batch_fraction`` of every minibatch of the
    inner learner is drawn from the demonstrations, rewarded by r_θ exactly as the replayed rows are
    (hybrid inverse RL, Ren, Swamy et al. 2024; RLPD's symmetric sampling, Ball et al. 2023), so the
    critic knows the demonstrator's states before the policy ever reaches them.

    Termination: with ``absorbing_state=True`` a true termination (e.g. Hopper falling) leads
    to an absorbing state whose reward r_abs is learned (Kostrikov et al. 2019). Its value
    γ/(1-γ)·r_abs is added to the terminal transition's reward, both in the critic's targets and in
    L_demo, so whether "falling early" or "surviving" pays is learned from the data rather
    than fixed by the sign of r_θ. Time-limit truncations are not terminations.

    Defaults were chosen by measurement (``python -m benchmarks.schedule_sweep`` for the reward schedule,
    ``python -m benchmarks.inner_loop_sweep`` for the inner loop); the docs' design notes have the numbers.
    The paper's schedule is ``alignment_steps=5000, reward_gradient_steps=5, reward_learning_rate=1e-4,
    demo_batch_fraction=0``.

    :param policy: the inner learner's policy ("MlpPolicy" or a policy class)
    :param env: the environment (a gymnasium env, a VecEnv or an env id); its reward is not used for learning
    :param demonstrations: expert transitions, or None for preferences only. With neither demonstrations
        nor preferences (and offline preferences), an env with shipped datasets (Hopper-v5, HalfCheetah-v5,
        Walker2d-v5) uses them: 10k demonstration transitions and 20k oracle preferences, as in the paper,
        recorded in ``model.default_feedback``
    :param preferences: labelled segment pairs, or None for demonstrations only
    :param demo_weight: weight of the demonstration (ML-IRL) term
    :param preference_weight: weight λ of the preference (Bradley–Terry) term
    :param alignment_steps: env steps of the inner learner between two reward updates (the paper uses 5,000)
    :param reward_gradient_steps: Adam steps per reward update (the paper uses 5)
    :param reward_learning_rate: Adam learning rate of the reward net
    :param reward_weight_decay: L2 weight decay of the reward net (keeps r_θ smooth and bounded)
    :param reward_gradient_penalty: weight of the WGAN-GP penalty on r_θ's slope between demonstrated
        and policy inputs (``rewards.losses.gradient_penalty``); 0 turns it off
    :param reward_batch_size: demonstration and policy transitions per reward step (each)
    :param preference_batch_size: segment pairs per reward step
    :param policy_window: the demo loss compares with this many most recent env steps of the
        policy (a longer window than one alignment keeps r_θ from chasing the latest policy)
    :param reward_net_arch: hidden layer sizes of the reward MLP; None: the actor's (``policy_kwargs["net_arch"]``,
        its ``"pi"`` list for a dict; SB3's (256, 256) when unset), so r_θ costs about what the actor does
    :param reward_bound: r_θ stays within ±reward_bound (a smooth tanh bound)
    :param state_only_reward: learn r_θ(s) instead of r_θ(s, a)
    :param absorbing_state: learn the reward of an absorbing state after true terminations (see above)
    :param demo_loss_weighting: how L_demo counts a transition that ends in a true termination.
        ``"separate_falls"``: the policy's and the demonstrator's real transitions are compared at full weight, and
        the falls in a term of their own weighed by each side's share of absorbing steps
        (``rewards.losses.separate_falls_demo_loss``); ``"occupancy"`` (the default before): both means over
        normalised occupancies, the transition counting with the γ/(1-γ) absorbing steps whose reward it carries —
        the same fixed point, but while the policy falls often its real transitions weigh little. With either, a
        constant added to r_θ leaves L_demo unchanged, and without falls they are the same loss.
        ``"transitions"`` (the earlier default, which files saved before the option existed go on with): it counts
        once, and a policy that falls more often than the demonstrator then pushes r_θ as a whole down to its bound
        (``rewards.losses.demo_loss``; measured in the docs' "The inner loop" and "Absorbing states")
    :param normalize_reward_inputs: standardise the reward net's observations with the mean and std
        of the feedback data (fixed for the run)
    :param demo_batch_fraction: share of every inner-loop minibatch drawn from the demonstrations (rewarded by
        r_θ like the replayed rows; 0 gives the paper's inner loop). Without demonstrations it has no effect
    :param segment_batch_fraction: share of every inner-loop minibatch drawn from the transitions inside the
        preference segments (of every quality; rewarded by r_θ like the replayed rows), so the critic also knows
        states between the agent's and the demonstrator's; 0: none. Without preferences it has no effect
    :param actor_feedback_rows: train the actor on the batches' feedback rows (demonstrations and segments) too
        (True, RLPD's way); False: the critic learns their values but the actor's gradient comes only from the
        agent's own rows (``sb3.actor_rows``)
    :param learning_starts: env steps of random actions before the inner learner and the reward start learning
    :param reward_ensemble_size: independently trained reward MLPs; r_θ is their mean and their
        spread drives ``query_selection="disagreement"`` (PEBBLE uses 3)
    :param preference_source: ``"offline"``: learn from ``preferences`` as given; ``"online"``: also
        ask ``teacher`` about segments of the agent's own recent rollouts, ``queries_per_round``
        queries every ``query_every`` env steps (the first round at the first reward update) until
        ``preference_budget`` queries have been asked. ``preferences``, if given, are the starting set.
        The gathered pairs are in ``model.preferences``; save them with ``model.preferences.save(path)``
        (feedback data is not saved with the model)
    :param teacher: the scripted teacher that labels online queries on the env's true reward
        (``ScriptedTeacher.oracle()``, ``ScriptedTeacher.named("mistake")``, ...); online only
    :param preference_budget: total online queries (asked, skipped ones included, as in B-Pref)
    :param queries_per_round: online queries per round
    :param query_every: env steps between two rounds of online queries
    :param query_selection: ``"uniform"`` random segment pairs, or ``"disagreement"``: of
        ``10 · queries_per_round`` candidates, the pairs whose preference probability varies most across
        the reward ensemble (needs ``reward_ensemble_size >= 2``)
    :param segment_length: steps per online query segment; segments that reach a fall are kept, padded
        with absorbing steps
    :param replay_buffer_class: must be ``RelabelingReplayBuffer`` or a subclass (the default)
    :param kwargs: any other argument of the inner learner (``stable_baselines3.SAC``, ``sb3_contrib.TQC``,
        ``sb3_contrib.CrossQ``: learning_rate, batch_size, gamma, tensorboard_log, seed, device, verbose, ...)
    """

    def __init__(
        self,
        policy: str | type,
        env: gym.Env | str,
        demonstrations: Demonstrations | None = None,
        preferences: Preferences | None = None,
        demo_weight: float = 1.0,
        preference_weight: float = 1.0,
        alignment_steps: int = 1_000,
        reward_gradient_steps: int = 20,
        reward_learning_rate: float = 3e-4,
        reward_weight_decay: float = 1e-3,
        reward_gradient_penalty: float = 1.0,
        reward_batch_size: int = 256,
        preference_batch_size: int = 64,
        policy_window: int = 10_000,
        demo_batch_fraction: float = 0.5,
        segment_batch_fraction: float = 0.0,
        actor_feedback_rows: bool = True,
        reward_net_arch: Sequence[int] | None = None,
        reward_bound: float = 10.0,
        state_only_reward: bool = False,
        absorbing_state: bool = True,
        demo_loss_weighting: str = "separate_falls",
        normalize_reward_inputs: bool = True,
        learning_starts: int = 5_000,
        reward_ensemble_size: int = 1,
        preference_source: str = "offline",
        teacher: ScriptedTeacher | None = None,
        preference_budget: int = 2_000,
        queries_per_round: int = 100,
        query_every: int = 10_000,
        query_selection: str = "uniform",
        segment_length: int = 50,
        replay_buffer_class: type[RelabelingReplayBuffer] | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if _init_setup_model:
            check_feedback_arguments(demonstrations, preferences, demo_loss_weighting, preference_source, teacher)
            online = preference_source == "online"
            if demonstrations is None and preferences is None and not online:
                # Out of the box for the envs with shipped datasets: the paper's budget of both feedbacks.
                demonstrations, preferences, self.default_feedback = shipped_feedback(
                    env, type(self).__name__, demo_weight > 0, preference_weight > 0, seed=kwargs.get("seed") or 0
                )
            check_reward_learning_arguments(
                demo_weight=demo_weight,
                preference_weight=preference_weight,
                demo_batch_fraction=demo_batch_fraction,
                segment_batch_fraction=segment_batch_fraction,
                online=online,
                query_selection=query_selection,
                reward_ensemble_size=reward_ensemble_size,
                alignment_steps=alignment_steps,
                reward_gradient_steps=reward_gradient_steps,
                reward_batch_size=reward_batch_size,
                preference_batch_size=preference_batch_size,
                policy_window=policy_window,
                preference_budget=preference_budget,
                queries_per_round=queries_per_round,
                query_every=query_every,
                segment_length=segment_length,
            )
            # SB3 would stop a discrete env with a bare assertion; say what to do instead.
            space_env = maybe_make_env(env, 0) if isinstance(env, str) else env
            check_continuous_actions(space_env.action_space)
            check_policy_net_arch(kwargs.get("policy_kwargs"))
            env = space_env
        if replay_buffer_class is not None and not issubclass(replay_buffer_class, RelabelingReplayBuffer):
            raise TypeError(
                "AIHF relabels rewards at sample time and needs a RelabelingReplayBuffer, "
                f"got {replay_buffer_class.__name__}; leave replay_buffer_class unset"
            )
        self.default_feedback: dict | None = getattr(self, "default_feedback", None)
        self.demonstrations = demonstrations
        self.preferences = preferences
        self.demo_weight = float(demo_weight)
        self.preference_weight = float(preference_weight)
        self.alignment_steps = int(alignment_steps)
        self.reward_gradient_steps = int(reward_gradient_steps)
        self.reward_learning_rate = float(reward_learning_rate)
        self.reward_weight_decay = float(reward_weight_decay)
        self.reward_gradient_penalty = float(reward_gradient_penalty)
        self.reward_batch_size = int(reward_batch_size)
        self.preference_batch_size = int(preference_batch_size)
        self.policy_window = int(policy_window)
        self.demo_batch_fraction = float(demo_batch_fraction)
        self.segment_batch_fraction = float(segment_batch_fraction)
        self.actor_feedback_rows = bool(actor_feedback_rows)
        self.reward_net_arch = None if reward_net_arch is None else list(reward_net_arch)
        self.reward_bound = float(reward_bound)
        self.state_only_reward = bool(state_only_reward)
        self.absorbing_state = bool(absorbing_state)
        self.demo_loss_weighting = demo_loss_weighting
        self.normalize_reward_inputs = bool(normalize_reward_inputs)
        self.reward_ensemble_size = int(reward_ensemble_size)
        self.preference_source = preference_source
        self.teacher = teacher
        self.preference_budget = int(preference_budget)
        self.queries_per_round = int(queries_per_round)
        self.query_every = int(query_every)
        self.query_selection = query_selection
        self.segment_length = int(segment_length)
        self.queries_asked = 0
        self._next_query_round = 0
        self.reward_updates = 0
        self._next_reward_update = 0
        self.reward_net: RewardNet
        self.reward_optimizer: torch.optim.Optimizer
        self._feedback = FeedbackTensors()
        super().__init__(
            policy,
            env,
            learning_starts=learning_starts,
            replay_buffer_class=replay_buffer_class or RelabelingReplayBuffer,
            _init_setup_model=False,
            **kwargs,
        )
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up

    def _setup_model(self) -> None:
        if self.replay_buffer_class is None or not issubclass(self.replay_buffer_class, RelabelingReplayBuffer):
            self.replay_buffer_class = RelabelingReplayBuffer
        super()._setup_model()
        check_continuous_actions(self.action_space)
        obs_dim = check_flat_box("observation", self.observation_space)
        act_dim = check_flat_box("action", self.action_space)
        if self.reward_net_arch is None:  # saved as resolved: a loaded model keeps the layers it was trained with
            actor_layers = getattr(self.actor, "net_arch", None)
            if actor_layers is None:
                raise ValueError(
                    f"reward_net_arch=None gives r_θ the actor's hidden layers, but the actor "
                    f"({type(self.actor).__name__}) has no net_arch: pass reward_net_arch, e.g. [256, 256]"
                )
            self.reward_net_arch = list(actor_layers)
        self.reward_net = RewardNet(
            obs_dim,
            act_dim,
            action_low=self.action_space.low,
            action_high=self.action_space.high,
            hidden_sizes=self.reward_net_arch,
            state_only=self.state_only_reward,
            reward_bound=self.reward_bound,
            ensemble_size=self.reward_ensemble_size,
        ).to(self.device)
        self.reward_optimizer = torch.optim.Adam(
            self.reward_net.parameters(), lr=self.reward_learning_rate, weight_decay=self.reward_weight_decay
        )
        self.replay_buffer.set_reward_fn(self._buffer_reward)
        self._set_feedback(self.demonstrations, self.preferences)

    def _set_feedback(self, demonstrations: Demonstrations | None, preferences: Preferences | None) -> None:
        """Check the feedback against the env, move it to the device, fix the reward net's input statistics."""
        check_usable_feedback(demonstrations, preferences, self.demo_weight, self.preference_weight)
        self.demonstrations, self.preferences = demonstrations, preferences
        self._feedback, observed = feedback_tensors(
            demonstrations, preferences, self.observation_space, self.action_space, self.device
        )
        self._attach_batch_demonstrations()
        # Before the first reward update (online preferences may arrive only then).
        if self.normalize_reward_inputs and observed and self.reward_updates == 0:
            # Standardise the reward's inputs with the feedback's own statistics, fixed for
            # the run. (A loaded model keeps the statistics it was trained with.)
            all_obs = np.concatenate(observed)
            self.reward_net.set_observation_stats(all_obs.mean(axis=0), all_obs.std(axis=0))

    def _batch_demonstrations(self) -> Demonstrations | None:
        """The demonstrations that go into the inner loop's batches (RLHF: those of its BC start)."""
        return self.demonstrations

    def _attach_batch_demonstrations(self) -> None:
        attach_demonstrations(self.replay_buffer, self._batch_demonstrations(), self.policy, self.demo_batch_fraction)
        attach_segments(self.replay_buffer, self.preferences, self.policy, self.segment_batch_fraction)

    def set_feedback(
        self, demonstrations: Demonstrations | None = None, preferences: Preferences | None = None
    ) -> None:
        """Attach feedback to a loaded model so that it can go on learning.

        :param demonstrations: expert transitions, or None
        :param preferences: labelled segment pairs, or None
        """
        if demonstrations is None and preferences is None:
            raise ValueError("set_feedback needs demonstrations, preferences, or both")
        self._set_feedback(demonstrations, preferences)

    # ------------------------------------------------------------------ rewards

    def _buffer_reward(self, obs: torch.Tensor, acts: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
        # The learner stores actions scaled to [-1, 1]; the reward net, like the feedback data, uses the env's units.
        low = torch.as_tensor(self.action_space.low, dtype=acts.dtype, device=acts.device)
        high = torch.as_tensor(self.action_space.high, dtype=acts.dtype, device=acts.device)
        env_acts = low + 0.5 * (acts + 1.0) * (high - low)  # SB3's unscale_action, in torch
        rewards = self.reward_net.transition_reward(obs, env_acts, terminated, self.gamma, self.absorbing_state)
        check_finite_relabelled_rewards(rewards, obs, acts, self.num_timesteps)
        return rewards

    def predict_reward(self, observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The learned reward r_θ(s, a) (without the absorbing-state term), numpy in, numpy out.

        :param observations: (..., obs_dim) observations
        :param actions: (..., act_dim) actions, same leading shape
        :return: (...) rewards
        """
        obs = np.asarray(observations, dtype=np.float32)
        acts = np.asarray(actions, dtype=np.float32)
        obs_dim, act_dim = self.reward_net.obs_dim, self.reward_net.act_dim
        if obs.shape[-1:] != (obs_dim,) or acts.shape[-1:] != (act_dim,) or obs.shape[:-1] != acts.shape[:-1]:
            raise ValueError(
                f"predict_reward expects observations (..., {obs_dim}) and actions (..., {act_dim}) with the same "
                f"leading shape, got {obs.shape} and {acts.shape}"
            )
        with torch.no_grad():
            r = self.reward_net(torch.as_tensor(obs, device=self.device), torch.as_tensor(acts, device=self.device))
        return r.cpu().numpy()

    # ------------------------------------------------------------------ training

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        if self.num_timesteps >= self._next_reward_update:
            if self.preference_source == "online" and self.num_timesteps >= self._next_query_round:
                self._gather_preferences()
                self._next_query_round = self.num_timesteps + self.query_every
            self._update_reward()
            self._next_reward_update = self.num_timesteps + self.alignment_steps
        if self.actor_feedback_rows:
            super().train(gradient_steps, batch_size)
        else:
            with actor_gradient_from_own_rows(self.actor, self.replay_buffer):
                super().train(gradient_steps, batch_size)
        check_finite_inner_losses(self.logger.name_to_value, self.num_timesteps, self._n_updates)

    def _store_transition(self, replay_buffer: Any, buffer_action: np.ndarray, new_obs: Any, *args: Any) -> None:
        # A NaN observation would otherwise surface as an obscure error in the policy's distribution.
        check_finite_observations(new_obs, self.num_timesteps)
        super()._store_transition(replay_buffer, buffer_action, new_obs, *args)

    def _gather_preferences(self) -> None:
        """One round of online queries on segments of the last ``policy_window`` env steps."""
        num_queries = min(self.queries_per_round, self.preference_budget - self.queries_asked)
        if num_queries <= 0:
            return
        gatherer = OnlinePreferenceGatherer(self.teacher, self.segment_length, self.query_selection)
        episodes = recent_episodes(self.replay_buffer, self.policy, max(1, self.policy_window // self.n_envs))
        gathered = gatherer.gather(episodes, num_queries, self._query_rng(), self._ensemble_returns)
        self.queries_asked += num_queries
        self.logger.record("reward/queries_asked", self.queries_asked)
        if gathered is None:  # the teacher skipped every query of this round
            return
        self.preferences = (
            gathered if self.preferences is None else Preferences.concatenate([self.preferences, gathered])
        )
        self._set_feedback(self.demonstrations, self.preferences)
        self.logger.record("reward/num_preferences", len(self.preferences))

    def _query_rng(self) -> np.random.Generator:
        # Seeded by the model's seed and the round, so a seeded run asks the same queries.
        return np.random.default_rng([self.seed or 0, self.queries_asked])

    @torch.no_grad()
    def _ensemble_returns(self, obs: np.ndarray, acts: np.ndarray, absorbing: np.ndarray) -> np.ndarray:
        """(E, K) segment returns of K candidate segments under each reward ensemble member."""
        to = lambda x: torch.as_tensor(x, device=self.device)  # noqa: E731
        returns = self.reward_net.member_segment_returns(to(obs), to(acts), to(absorbing), self.absorbing_state)
        return returns.cpu().numpy()

    def _recent_policy_transitions(self) -> PolicyTransitions:
        """The last ``policy_window`` env steps of all envs: obs, acts, terminated, true rewards."""
        steps_per_env = max(1, self.policy_window // self.n_envs)
        return recent_transitions(self.replay_buffer, self.policy, steps_per_env, self.device)

    def _update_reward(self) -> None:
        """One outer-loop step: ``reward_gradient_steps`` Adam steps on the joint AIHF loss."""
        fb = self._feedback
        use_demos = fb.demo_obs is not None and self.demo_weight > 0
        use_prefs = fb.pref_labels is not None and self.preference_weight > 0
        if not (use_demos or use_prefs):
            if self.preference_source == "online":
                return  # no query answered yet (the teacher skipped them all): r_θ waits for the next round
            raise RuntimeError(
                "this AIHF model has no feedback to learn its reward from (a loaded model does not keep its data): "
                "call model.set_feedback(demonstrations=..., preferences=...) before learn()"
            )
        net = self.reward_net
        recent = self._recent_policy_transitions()
        logged = []
        for step in range(self.reward_gradient_steps):
            step_loss = joint_reward_loss(
                net,
                fb,
                recent,
                use_demos=use_demos,
                use_prefs=use_prefs,
                demo_weight=self.demo_weight,
                preference_weight=self.preference_weight,
                gradient_penalty_weight=self.reward_gradient_penalty,
                reward_batch_size=self.reward_batch_size,
                preference_batch_size=self.preference_batch_size,
                gamma=self.gamma,
                absorbing_state=self.absorbing_state,
                demo_loss_weighting=self.demo_loss_weighting,
            )
            check_finite_reward_loss(step_loss.loss, self.reward_updates, step, self.num_timesteps)
            logged.append(step_loss[1:])  # the demo loss, preference loss and penalty: floats or None
            self.reward_optimizer.zero_grad()
            step_loss.loss.backward()
            # Checked before the step: the parameters stay those of the last good update.
            check_finite_reward_gradients(net, self.reward_updates, step, self.num_timesteps)
            self.reward_optimizer.step()
        self.reward_updates += 1
        demo_losses, pref_losses, penalties = (
            [v for v in column if v is not None] for column in zip(*logged, strict=True)
        )
        if penalties:
            self.logger.record("reward/gradient_penalty", float(np.mean(penalties)))
        self._log_reward_metrics(demo_losses, pref_losses, recent)

    def _log_reward_metrics(
        self, demo_losses: list[float], pref_losses: list[float], recent: PolicyTransitions
    ) -> None:
        self.logger.record("reward/updates", self.reward_updates)
        metrics = reward_metrics(
            self.reward_net,
            self._feedback,
            recent,
            demo_losses,
            pref_losses,
            self.gamma,
            self.absorbing_state,
            self.demo_loss_weighting,
        )
        for key, value in metrics.items():
            self.logger.record(key, value)

    def learn(
        self: SelfRewardLearning,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRewardLearning:
        no_feedback = self._feedback.demo_obs is None and self._feedback.pref_labels is None
        if no_feedback and self.default_feedback is not None:
            # A loaded model that trained on the shipped datasets: rebuild the same feedback from its record.
            record = self.default_feedback
            demonstrations, preferences, _ = shipped_feedback(
                self.env, type(self).__name__, "demonstrations" in record, "preferences" in record, record["seed"]
            )
            self._set_feedback(demonstrations, preferences)
            no_feedback = False
        if no_feedback and self.preference_source != "online":
            raise RuntimeError(
                "this AIHF model has no feedback to learn its reward from (a loaded model does not keep its data): "
                "call model.set_feedback(demonstrations=..., preferences=...) or pass them to AIHF.load(...)"
            )
        if reset_num_timesteps:
            # num_timesteps restarts at 0, so must the reward-update schedule: a model trained (or
            # loaded) with N steps would otherwise not update its reward for its first N new steps.
            self._next_reward_update = 0
            self._next_query_round = 0
        try:
            return super().learn(  # type: ignore[misc]
                total_timesteps,
                callback,
                log_interval,
                tb_log_name or type(self).__name__,
                reset_num_timesteps,
                progress_bar,
            )
        except NonFiniteError as error:
            parameters = [*self.policy.parameters(), *self.reward_net.parameters()]
            kept = keep_last_good(callback, error.state_is_good, parameters)
            raise NonFiniteError(f"{error}. {kept}", error.state_is_good) from error

    # ------------------------------------------------------------------ save / load

    def _excluded_save_params(self) -> list[str]:
        # The feedback data can be large (20k preference pairs ≈ 100 MB): it is not saved with the model.
        return [
            *super()._excluded_save_params(),
            "demonstrations",
            "preferences",
            "_feedback",
            "reward_net",
            "reward_optimizer",
        ]

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto", **kwargs: Any) -> Any:
        """``CheckedLoad.load`` (SB3's ``load``, same arguments). A file saved before ``demo_loss_weighting``
        existed goes on with ``"transitions"``, the weighting it was trained with, not today's default."""
        if "demo_loss_weighting" not in kwargs and not hasattr(path, "read"):
            if "demo_loss_weighting" not in read_saved_data(path):  # saved before the option existed
                kwargs["demo_loss_weighting"] = "transitions"
        return super().load(path, env=env, device=device, **kwargs)

    def load_replay_buffer(self, path: Any, truncate_last_traj: bool = True) -> None:
        """SB3's ``load_replay_buffer``; the loaded buffer gets the learned reward and the demonstration rows."""
        super().load_replay_buffer(path, truncate_last_traj)  # type: ignore[misc]
        if not isinstance(self.replay_buffer, RelabelingReplayBuffer):
            raise TypeError(
                f"{path} holds a {type(self.replay_buffer).__name__}, but {type(self).__name__} relabels rewards and "
                "needs a RelabelingReplayBuffer saved by one of this library's models"
            )
        self.replay_buffer.set_reward_fn(self._buffer_reward)
        self._attach_batch_demonstrations()

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, "reward_net", "reward_optimizer"], variables
