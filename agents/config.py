"""AgentConfig: the one validated configuration of the MA-REINFORCE learner (networks, environment, training)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np

from masimu_env.config import (SimConfig, UnknownSettingError, check_int, check_seed, defaults_for, document_fields,
                               field_docs, is_real)

BELIEFS = ("gru", "lstm")
BASELINES = ("mean", "greedy", "loo", "none")
OPTIMIZERS = ("adam", "sgd")
POLICIES = ("learned", "random")
EVAL_POLICIES = ("greedy", "sample", "random")
FEATURE_NORMS = ("layer", "group", "none")
LSTM_HEADS = ("cell", "hidden")
COMBINES = ("probs", "logits")

#: Network sizes and learning rates by dataset family (paper §5: MNIST-sized lr 1e-3, high-res lr 1e-4).
#: MNIST uses L = cross-entropy in r = -L(p_bar - e_i) (r = log p_bar[i]): with 6-pixel windows on 28x28
#: images the MSE reading of Eq. 3 trains the prediction head several times slower (benchmarks/train_ma.py).
NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": dict(conv_channels=32, feature_dim=64, hidden_size=128, lr=3e-3, batch_size=32),
    "mnist": dict(conv_channels=32, feature_dim=128, hidden_size=128, lr=3e-3, batch_size=32, reward_loss="ce"),
    "cifar10": dict(conv_channels=32, feature_dim=128, hidden_size=128, lr=1e-3, batch_size=32),
    "resisc45": dict(conv_channels=32, feature_dim=128, hidden_size=128, lr=1e-4, batch_size=32),
    "ham10000": dict(conv_channels=32, feature_dim=128, hidden_size=128, lr=1e-4, batch_size=32),
}


def _family(dataset: str | None, image_side: int | None) -> str:
    if dataset in NETWORK_DEFAULTS:
        return dataset  # type: ignore[return-value]
    if image_side is not None and image_side <= 16:
        return "digits"
    if image_side is not None and image_side > 32:
        return "ham10000"
    return "mnist"


@document_fields
@dataclass(frozen=True)
class AgentConfig:
    """Everything that defines an MA-REINFORCE run: environment, networks and optimisation.

    The environment fields mirror :class:`masimu_env.SimConfig`; :attr:`sim_config` builds it.
    ``message_dim`` is the width of the *decoded* messages d(m_j) that the core routes (Eq. 8-9),
    ``raw_message_dim`` the width of m_j = m(h_j) (Eq. 7).
    """

    # --- environment (SimConfig) ---
    n_agents: int = 3
    """N, agents sharing one image."""
    n_steps: int = 5
    """T, moves per episode."""
    window: int = 6
    """f, side of each agent's square view in pixels."""
    stride: int = 1
    """Pixels per move."""
    message_dim: int = 16
    """Width of the decoded messages d(m_j) the core averages over in-neighbours (Eq. 9)."""
    graph: Any = "complete"
    """Communication graph: a name in masimu_env.config.GRAPHS or an (N, N) 0/1 list of lists."""
    reward_loss: Literal["mse", "ce"] = "mse"
    """L in r = -L(p_bar - e_i): 'mse' is the paper's Eq. 3; 'ce' is log p_bar[i]."""

    # --- networks ---
    belief: Literal["gru", "lstm"] = "gru"
    """Belief and decision RNN cell: 'gru' (MASMU) or 'lstm' (MALMU)."""
    lstm_head: Literal["cell", "hidden"] = "cell"
    """State of the belief LSTM that the prediction head p reads: 'cell', c_i(T), as paper Appendix A.4 writes
    (p_i = p(c_i(T))) and the public reimplementation does, or 'hidden', h_i(T) (checkpoints saved before this
    option existed). A GRU has only h, so it must stay at the default."""
    combine: Literal["probs", "logits"] = "logits"
    """How the agents' predictions p_i form p_bar: 'logits' averages the raw vectors p_i and applies one softmax (A.4:
    "averaging the raw prediction vectors across the agents"; a product of experts, +1 point on MNIST, see README);
    'probs' averages their softmax distributions (checkpoints saved before this option existed). With 'logits' every
    agent reports the shared raw vector, so the env, the reward and evaluate all see p_bar = softmax(mean_i p_i)."""
    conv_channels: int = 32
    """Channels of the window feature extractor b (two 3x3 convs; see feature_norm)."""
    feature_dim: int = 128
    """Width of b(o), the window features."""
    feature_norm: Literal["layer", "group", "none"] = "layer"
    """Per-sample norm in b: LayerNorm on the features, GroupNorm after each conv, or none (never BatchNorm)."""
    position_dim: int = 16
    """Width of q(s), the position (and time) encoding."""
    raw_message_dim: int = 16
    """Width of the message m(h) produced from the belief state (Eq. 7)."""
    hidden_size: int = 128
    """Hidden size of the belief RNN and of the decision RNN."""

    # --- training (Eq. 6) ---
    epochs: int = 10
    """Passes over the training rows."""
    batch_size: int = 64
    """Images per update (each runs N agents)."""
    lr: float = 1e-3
    """Learning rate."""
    optimizer: Literal["adam", "sgd"] = "adam"
    """'adam' or 'sgd' (momentum 0.9)."""
    weight_decay: float = 0.0
    """L2 weight decay of the optimizer."""
    grad_clip: float | None = 1.0
    """Max gradient norm, applied to the policy group (decision RNN, pi) and to the classifier group (everything
    else) separately, so the policy gradient never shrinks the classifier's step; None disables clipping."""
    baseline: Literal["mean", "greedy", "loo", "none"] = "mean"
    """Baseline subtracted from the detached reward r^d: 'mean' (batch mean), 'greedy' (self-critical: the reward
    of a greedy rollout, argmax pi, of the same image from the same start corners; one extra forward-only
    episode per batch), 'loo' (leave-one-out, needs rollouts_per_image >= 2: the mean reward of the same image's
    other episodes from the same start corners; use it with normalize_advantage=False, since scaling the first
    epochs' tiny within-image reward differences to unit size made pi deterministic within two MNIST epochs) or
    'none' (plain Eq. 6)."""
    rollouts_per_image: int = 1
    """K, episodes played per training image and update, all from the same start corners with their own sampled
    moves; the update averages Eq. 6 over the B x K episodes (K times the work per image)."""
    normalize_advantage: bool = True
    """Divide the advantage r^d - baseline by its batch standard deviation."""
    entropy_coef: float = 0.01
    """Weight of the policy-entropy bonus on the path entropy (sum over agents and steps, like log p_tau): each
    decision's entropy weighs entropy_coef against its log-probability's normalized advantage (0 disables it)."""
    ce_weight: float = 0.0
    """Optional auxiliary cross-entropy on p_bar (0: only the paper's differentiable reward r_tau)."""
    detach_policy_input: bool = True
    """Feed the decision RNN u.detach(): the policy-gradient term then trains only the decision RNN and pi, and
    its variance stays out of the shared b, q, m, d and belief RNN (which the differentiable reward trains).
    False sends Eq. 6's full gradient through every network."""
    step_reward_weight: float = 0.0
    """Optional auxiliary: add weight * mean over steps t < T of r_t = -L(p_bar_t - e_i), the prediction head
    scored after every earlier step (deep supervision of the belief RNN). 0 keeps the paper's end-of-episode
    reward only; the policy gradient always uses the final r_tau."""
    policy: Literal["learned", "random"] = "learned"
    """'learned': sample moves from pi (MA-REINFORCE); 'random': uniform random walk, same networks."""
    eval_policy: Literal["greedy", "sample", "random"] = "greedy"
    """Moves during evaluation: argmax of pi, or sampled with a generator seeded by eval_seed (sampled moves then
    also depend on how the rows are batched; greedy ones do not), or 'random': uniform moves from that generator,
    whatever pi says (an ablation: the trained networks with their policy switched off)."""
    seed: int = 0
    """Seeds parameter init, shuffling and training rollouts."""
    eval_seed: int = 12345
    """Seeds the evaluation start positions (fixed per dataset row) and sampled eval moves."""
    device: str = "cpu"
    """Torch device."""

    def __post_init__(self) -> None:
        for name in ("n_agents", "n_steps", "window", "stride", "message_dim", "conv_channels", "feature_dim",
                     "position_dim", "raw_message_dim", "hidden_size", "epochs", "batch_size", "rollouts_per_image"):
            minimum = 0 if name == "epochs" else 1
            object.__setattr__(self, name, check_int(getattr(self, name), f"AgentConfig.{name}", minimum))
        for name, allowed in (("belief", BELIEFS), ("baseline", BASELINES), ("optimizer", OPTIMIZERS),
                              ("policy", POLICIES), ("eval_policy", EVAL_POLICIES),
                              ("feature_norm", FEATURE_NORMS), ("lstm_head", LSTM_HEADS),
                              ("combine", COMBINES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"AgentConfig.{name} must be one of {allowed}; got {getattr(self, name)!r}.")
        for name in ("lr", "weight_decay", "entropy_coef", "ce_weight", "step_reward_weight"):
            value = getattr(self, name)
            # is_real: True was taken as 1.0 and a NumPy float (e.g. from a np.linspace sweep) was refused
            if not is_real(value) or not np.isfinite(value) or value < 0:
                raise ValueError(f"AgentConfig.{name} must be a finite float >= 0; got {value!r}.")
            object.__setattr__(self, name, float(value))  # a Python float: JSON, weights_only and fingerprints
        for name in ("normalize_advantage", "detach_policy_input"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"AgentConfig.{name} must be True or False; got {getattr(self, name)!r}.")
        if self.belief == "gru" and self.lstm_head != "cell":
            raise ValueError(f"AgentConfig.lstm_head={self.lstm_head!r} applies only to belief='lstm' (a GRU has no "
                             "cell state; its head reads h).")
        if self.baseline == "loo" and self.rollouts_per_image < 2:
            raise ValueError("AgentConfig.baseline='loo' needs rollouts_per_image >= 2 (each episode's baseline is the "
                             f"mean reward of the same image's other episodes); got rollouts_per_image="
                             f"{self.rollouts_per_image}.")
        if self.lr == 0:
            raise ValueError("AgentConfig.lr must be > 0.")
        if self.grad_clip is not None:
            if not is_real(self.grad_clip) or not 0 < self.grad_clip < np.inf:
                raise ValueError(f"AgentConfig.grad_clip must be a finite float > 0 or None; got {self.grad_clip!r}.")
            object.__setattr__(self, "grad_clip", float(self.grad_clip))
        for name in ("seed", "eval_seed"):
            object.__setattr__(self, name, check_seed(getattr(self, name), f"AgentConfig.{name}"))
        # validates the environment fields (graph, reward_loss, device); a matrix graph is kept as SimConfig stores it
        object.__setattr__(self, "graph", self.sim_config.graph)

    @property
    def sim_config(self) -> SimConfig:
        """The environment configuration these agents play in."""
        return SimConfig(n_agents=self.n_agents, n_steps=self.n_steps, window=self.window, stride=self.stride,
                         message_dim=self.message_dim, graph=self.graph, reward_loss=self.reward_loss,
                         device=self.device)

    def fingerprint(self) -> str:
        """SHA-256 hex digest of every field but ``device``: what a trained learner depends on. Caches of trained
        learners (originals, unlearning checkpoints) key on it, so a changed default invalidates them too."""
        settings = {k: v for k, v in self.to_dict().items() if k != "device"}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> "AgentConfig":
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (JSON- and ``weights_only``-safe)."""
        out = asdict(self)
        if not isinstance(out["graph"], str):
            out["graph"] = np.asarray(out["graph"]).astype(int).tolist()
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "AgentConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`masimu_env.config.UnknownSettingError` (a TypeError
        and a ValueError) naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UnknownSettingError(f"Unknown AgentConfig field(s) {unknown}; valid fields: "
                                      f"{', '.join(sorted(known))}.")
        return cls(**values)

    @classmethod
    def for_dataset(cls, dataset: str | None = None, image_side: int | None = None, **overrides: Any) -> "AgentConfig":
        """Paper defaults for ``dataset`` (or an image side): environment from ``SimConfig``'s table,
        network sizes and lr from :data:`NETWORK_DEFAULTS`, with ``overrides`` on top."""
        values: dict[str, Any] = {**defaults_for(dataset, image_side), **NETWORK_DEFAULTS[_family(dataset, image_side)]}
        return cls.from_dict({**values, **overrides})


def field_help() -> dict[str, str]:
    """Field name -> one-line description, read from the attribute docstrings (used by the CLI)."""
    return field_docs(AgentConfig)


__all__ = ["AgentConfig", "BELIEFS", "NETWORK_DEFAULTS", "field_help"]
