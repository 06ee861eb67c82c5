"""The networks every agent shares (paper Appendix A.4, Eqs. 7-16): b, q, m, d, belief/decision RNNs, pi, p.

All agents use the same parameters; a step processes B episodes x N agents as one (B*N) batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .config import FEATURE_NORMS, AgentConfig

N_MOVES = 4


@dataclass(frozen=True)
class RecurrentState:
    """Belief and decision RNN states of B x N agents.

    Attributes:
        belief_h: (B, N, H) belief hidden state h_i(t).
        decision_h: (B, N, H) decision hidden state h^_i(t).
        belief_c: (B, N, H) belief cell state c_i(t) for an LSTM, else None.
        decision_c: (B, N, H) decision cell state for an LSTM, else None.
    """

    belief_h: Tensor
    decision_h: Tensor
    belief_c: Tensor | None = None
    decision_c: Tensor | None = None


@dataclass(frozen=True)
class StepOutput:
    """What the networks emit at one step.

    Attributes:
        state: the updated :class:`RecurrentState`.
        move_logits: (B, N, 4) unnormalized log-probabilities of pi over up/down/left/right (Eq. 14).
        message: (B, N, M) decoded message d(m(h_i(t+1))) each agent sends (Eqs. 7-8); the core
            averages it over in-neighbours (Eq. 9), which equals decode-then-average because d is shared.
    """

    state: RecurrentState
    move_logits: Tensor
    message: Tensor


class WindowEncoder(nn.Module):
    """b (Eq. 10): two 3x3 convs, a linear map and a LayerNorm.

    The norm is per sample (LayerNorm on the features), never BatchNorm, so one image is scored exactly
    as inside a batch. ``norm='group'`` adds GroupNorm after each conv instead; on windows of a few pixels
    it normalizes away how much ink the window holds, which slows learning, hence not the default.
    """

    def __init__(self, channels: int, window: int, conv_channels: int, feature_dim: int, norm: str = "layer") -> None:
        super().__init__()
        if norm not in FEATURE_NORMS:
            raise ValueError(f"norm must be one of {FEATURE_NORMS}; got {norm!r}.")
        second_stride = 2 if window >= 8 else 1  # high-res windows: halve the map before the linear layer

        def conv_norm() -> list[nn.Module]:
            if norm != "group":
                return []
            return [nn.GroupNorm(8 if conv_channels % 8 == 0 else 1, conv_channels)]

        self.convs = nn.Sequential(
            nn.Conv2d(channels, conv_channels, 3, padding=1), *conv_norm(), nn.ReLU(),
            nn.Conv2d(conv_channels, conv_channels, 3, padding=1, stride=second_stride), *conv_norm(), nn.ReLU(),
        )
        side = (window - 1) // second_stride + 1
        self.linear = nn.Linear(conv_channels * side * side, feature_dim)
        self.norm = nn.LayerNorm(feature_dim) if norm == "layer" else nn.Identity()

    def forward(self, window: Tensor) -> Tensor:
        """(M, C, f, f) float -> (M, feature_dim) float."""
        return torch.relu(self.norm(self.linear(self.convs(window).flatten(1))))


class MultiAgentNet(nn.Module):
    """All shared networks of MASMU (``belief='gru'``) / MALMU (``belief='lstm'``).

    Args:
        config: sizes (``conv_channels``, ``feature_dim``, ``position_dim``, ``raw_message_dim``,
            ``message_dim``, ``hidden_size``), the cell type ``belief`` and ``window``.
        n_classes: K, width of the prediction head p.
        channels: C, image channels.
    """

    def __init__(self, config: AgentConfig, n_classes: int, channels: int) -> None:
        super().__init__()
        if n_classes < 1 or channels < 1:
            raise ValueError(f"n_classes and channels must be >= 1; got {n_classes}, {channels}.")
        self.config = config
        self.n_classes = n_classes
        self.channels = channels
        hidden = config.hidden_size
        self.features = WindowEncoder(channels, config.window, config.conv_channels, config.feature_dim,
                                      config.feature_norm)  # b
        self.position = nn.Sequential(nn.Linear(3, config.position_dim), nn.ReLU())  # q on (row, col, t/T)
        self.message = nn.Linear(hidden, config.raw_message_dim)  # m, Eq. 7
        self.decoder = nn.Sequential(nn.Linear(config.raw_message_dim, config.message_dim), nn.Tanh())  # d, Eq. 8
        input_size = config.feature_dim + config.position_dim + config.message_dim  # u = [b, q, d_bar]
        cell = nn.GRUCell if config.belief == "gru" else nn.LSTMCell
        self.belief_rnn = cell(input_size, hidden)  # f_theta5, Eqs. 12-13
        self.decision_rnn = cell(input_size, hidden)  # f_theta7, Eqs. 15-16
        self.policy = nn.Linear(hidden, N_MOVES)  # pi, Eq. 14
        self.prediction = nn.Linear(hidden, n_classes)  # p

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """'policy': decision RNN and pi (trained by the policy gradient); 'classifier': everything else."""
        groups: dict[str, list[nn.Parameter]] = {"policy": [], "classifier": []}
        for name, param in self.named_parameters():
            groups["policy" if name.startswith(("decision_rnn.", "policy.")) else "classifier"].append(param)
        return groups

    def clip_gradients(self, max_norm: float) -> None:
        """Clip the gradient norm of each of :meth:`parameter_groups` to ``max_norm`` separately, so the policy
        gradient's norm never shrinks the classifier's step (``AgentConfig.grad_clip``)."""
        for group in self.parameter_groups().values():
            nn.utils.clip_grad_norm_(group, max_norm)

    @property
    def is_lstm(self) -> bool:
        return self.config.belief == "lstm"

    def initial_state(self, batch_size: int, n_agents: int, device: torch.device | str) -> RecurrentState:
        """Zero RNN states (Algorithm 1, line 9)."""
        zeros = torch.zeros(batch_size, n_agents, self.config.hidden_size, device=device)
        if self.is_lstm:
            return RecurrentState(zeros, zeros, zeros, zeros)
        return RecurrentState(zeros, zeros)

    def step(self, window: Tensor, position: Tensor, time: Tensor, inbox: Tensor, state: RecurrentState) -> StepOutput:
        """One step of Algorithm 1 (lines 16-24) for every agent.

        Args:
            window: (B, N, C, f, f) float in [0, 1], o_i(t).
            position: (B, N, 2) float normalized corner, s_i(t).
            time: (B, N, 1) float t / T.
            inbox: (B, N, M) float d_bar_i(t), the mean of decoded in-neighbour messages.
            state: RNN states at t.

        Returns:
            :class:`StepOutput` with the states at t + 1, pi's logits and the decoded outgoing messages.
        """
        b, n = window.shape[:2]
        flat = b * n
        features = self.features(window.reshape(flat, *window.shape[2:]))
        position_code = self.position(torch.cat([position, time], dim=-1).reshape(flat, 3))
        info = torch.cat([features, position_code, inbox.reshape(flat, -1)], dim=-1)  # u_i(t)
        decision_info = info.detach() if self.config.detach_policy_input else info
        if self.is_lstm:
            assert state.belief_c is not None and state.decision_c is not None
            belief_h, belief_c = self.belief_rnn(info, (state.belief_h.reshape(flat, -1), state.belief_c.reshape(flat, -1)))
            decision_h, decision_c = self.decision_rnn(
                decision_info, (state.decision_h.reshape(flat, -1), state.decision_c.reshape(flat, -1)))
            new_state = RecurrentState(belief_h.view(b, n, -1), decision_h.view(b, n, -1),
                                       belief_c.view(b, n, -1), decision_c.view(b, n, -1))
        else:
            belief_h = self.belief_rnn(info, state.belief_h.reshape(flat, -1))
            decision_h = self.decision_rnn(decision_info, state.decision_h.reshape(flat, -1))
            new_state = RecurrentState(belief_h.view(b, n, -1), decision_h.view(b, n, -1))
        message = self.decoder(self.message(belief_h)).view(b, n, -1)
        move_logits = self.policy(decision_h).view(b, n, N_MOVES)
        return StepOutput(new_state, move_logits, message)

    def predict_logits(self, state: RecurrentState) -> Tensor:
        """Prediction head p on the belief state: (B, N, H) -> (B, N, K) logits.

        A GRU's head reads h_i(t); an LSTM's reads its cell state c_i(t) (p_i = p(c_i(T)), paper Appendix A.4),
        or h_i(t) with ``AgentConfig.lstm_head='hidden'``. With ``AgentConfig.combine='logits'`` every agent's row
        is the agents' mean raw vector.
        """
        if self.is_lstm and self.config.lstm_head == "cell":
            assert state.belief_c is not None
            logits = self.prediction(state.belief_c)
        else:
            logits = self.prediction(state.belief_h)
        if self.config.combine == "logits":  # every agent reports the mean raw vector: p_bar = softmax(mean_i p_i)
            return logits.mean(1, keepdim=True).expand_as(logits)
        return logits
