"""IMU: MU with every retain batch's gradients scaled by (1 - I_w) (paper Algorithm 3)."""

from __future__ import annotations

from .mu import Mu


class Imu(Mu):
    """Interpretable MU: LIME tables of D_r and D_f from the original model (see
    :mod:`unlearning.interpretable`), then fine-tuning on D_r with grad <- grad - I_w * grad."""

    name = "imu"
    interpretable = True
    reference = "paper Algorithm 3 (IMU)"
