"""UnlearningConfig: every setting of one unlearning run, validated once.

A field left at ``None`` takes the method's published default (see each method's
``DEFAULTS`` and ``docs`` in :mod:`unlearning.methods`); :meth:`UnlearningConfig.resolve`
fills them in, so the record of a run always holds the values that were really used.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from masimu_env.config import UnknownSettingError, check_int, check_seed, document_fields, is_real


@document_fields
@dataclass(frozen=True)
class UnlearningConfig:
    """Settings of one call to :func:`unlearning.unlearn`."""

    epochs: int | None = None
    """Passes over the method's training data; None: the method's default."""
    lr: float | None = None
    """Learning rate; None: the method's default (paper §5: 0.1 for MU/IMU, 1e-3 for the
    multi-agent methods on images <= 32 px and 1e-4 on high-resolution images)."""
    momentum: float | None = None
    """SGD momentum (unused by Adam); None: the method's default."""
    weight_decay: float | None = None
    """Weight decay (L2) of the optimizer; None: the method's default."""
    optimizer: str | None = None
    """"sgd" or "adam"; None: the method's default (SGD, as in paper §5, for the fine-tuning methods; the multi-agent
    Retrains train with the learner's own optimizer)."""
    batch_size: int = 64
    """Images per optimizer step (the published baselines use 256 on CIFAR-10; 64 keeps
    several steps per epoch on forget sets of ~150 images)."""
    retrain_epochs: int | None = None
    """Epochs of Retrain; None: as many as the original was trained for (the multi-agent
    learner's ``epochs_done``), or 25 for a standard classifier (the paper's Table 4)."""
    seed: int = 0
    """Seed of batch order, fresh initialisation and every random draw of the method."""
    device: str = "cpu"
    """Torch device."""
    checkpoint_dir: str | None = None
    """Folder for the per-epoch checkpoint; a run with a checkpoint there resumes from it."""
    progress: bool = False
    """Show a tqdm bar per epoch."""
    eval_batch_size: int = 512
    """Images per forward pass when evaluating."""

    # --- interpretable weight (IMU / MASIMU / MALIMU) ---
    lime_backend: str = "fast"
    """LIME backend of :func:`unlearning.explain.lime_coefficients`."""
    lime_segmentation: str = "grid"
    """Segmentation; "grid" gives coefficient vectors comparable across images."""
    lime_num_samples: int = 32
    """Perturbed samples per explained image (lime's own default is 1000). 32 is twice the 16 features
    of the default 4x4 grid, and with the per-class defaults each class summary averages several such
    fits; ``METHODS.md`` gives the measured agreement of I_w with 128 samples on every image."""
    lime_grid: tuple[int, int] | None = None
    """Grid of the coefficients; None: the explain package's default (4x4 up to 32 px)."""
    lime_cache_dir: str | None = None
    """Cache folder of LIME coefficients (keyed by model weights, images and settings)."""
    lime_retain_per_class: int | None = None
    """None: the method's default (every image when ``InterpretableWeights.compute`` is called
    directly). 0: explain every retain image (Algorithm 3 read literally).
    k > 0: explain k random retain images per class and give each retain image the mean rsim (row
    mean of cosine similarities to the forget vectors) of its class's explained images (the per-label
    averaging of paper §3); cuts LIME cost from r images to at most k*K."""
    lime_forget_per_class: int | None = None
    """None: the method's default (every image when ``InterpretableWeights.compute`` is called
    directly). 0: explain every forget image and use each image's own vector
    as a column of I_{D_f} (Algorithm 3 read literally). k > 0: explain k random forget images per
    class and let each explained image stand for n_c / k_c forget images of its class c (a
    stratified estimate of the mean over all f forget images, so I_w still weighs each class by its
    share of the forget set); cuts LIME cost from f images to at most k*K."""

    # --- baselines ---
    l1_gamma: float = 5e-4
    """l1-sparse: gamma of the l1 penalty, decayed linearly to 0 (Jia et al. 2023)."""
    salun_threshold: float = 0.5
    """SalUn: share of weights (largest forget-loss gradient magnitude) that may change (Fan et al. 2024)."""
    scrub_kd_temperature: float = 4.0
    """SCRUB: distillation temperature (Kurmanji et al. 2023)."""
    scrub_max_steps: int = 2
    """SCRUB: the first ``scrub_max_steps`` epochs also run a max-step on the forget set."""
    scrub_gamma: float = 0.99
    """SCRUB: weight of the cross-entropy in the min-step."""
    scrub_alpha: float = 0.001
    """SCRUB: weight of the distillation KL in the min-step."""

    def __post_init__(self) -> None:
        for name, minimum, optional in (("epochs", 0, True), ("retrain_epochs", 0, True),
                                        ("batch_size", 1, False), ("eval_batch_size", 1, False),
                                        ("lime_num_samples", 1, False),
                                        ("scrub_max_steps", 0, False), ("lime_retain_per_class", 0, True),
                                        ("lime_forget_per_class", 0, True)):
            object.__setattr__(self, name, check_int(getattr(self, name), f"UnlearningConfig.{name}", minimum,
                                                     optional=optional))
        object.__setattr__(self, "seed", check_seed(self.seed, "UnlearningConfig.seed"))
        for name in ("lr", "momentum", "weight_decay", "salun_threshold", "scrub_kd_temperature", "l1_gamma",
                     "scrub_gamma", "scrub_alpha"):
            value = getattr(self, name)
            # True was read as 1.0 and "0.1" failed in a comparison that named no field
            if value is not None and not is_real(value):
                raise ValueError(f"UnlearningConfig.{name} must be a number; got {value!r}.")
        if self.optimizer is not None and self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"UnlearningConfig.optimizer must be None, 'sgd' or 'adam'; got {self.optimizer!r}.")
        if self.lr is not None and not 0 < self.lr < math.inf:
            raise ValueError(f"UnlearningConfig.lr must be None or a finite number > 0; got {self.lr!r}.")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:
                raise ValueError(f"UnlearningConfig.{name} must be None or a finite number >= 0; got {value!r}.")
        if not 0.0 < self.salun_threshold <= 1.0:
            raise ValueError(f"UnlearningConfig.salun_threshold must lie in (0, 1]; got {self.salun_threshold!r}.")
        for name in ("scrub_kd_temperature", "l1_gamma", "scrub_gamma", "scrub_alpha"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ValueError(f"UnlearningConfig.{name} must be a finite number >= 0; got {getattr(self, name)!r}.")
        if self.scrub_kd_temperature == 0:
            raise ValueError("UnlearningConfig.scrub_kd_temperature must be > 0; got 0.")
        if self.optimizer == "adam" and self.momentum is not None:  # Adam has no momentum: it was recorded, unused
            raise ValueError(f"UnlearningConfig.momentum applies to SGD only; got momentum={self.momentum} with "
                             "optimizer='adam' (leave momentum unset).")

    @classmethod
    def from_settings(cls, **settings: Any) -> "UnlearningConfig":
        """Build from keyword settings; an unknown key raises :class:`masimu_env.config.UnknownSettingError` (a
        TypeError and a ValueError) naming the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise UnknownSettingError(f"Unknown unlearning setting(s) {', '.join(unknown)}; "
                                      f"valid settings: {', '.join(sorted(names))}.")
        return cls(**settings)

    def resolve(self, defaults: dict[str, Any]) -> "UnlearningConfig":
        """A copy with every ``None`` field that ``defaults`` names filled from it (but ``momentum`` under Adam, which
        has none: a method's SGD default would be recorded as if it had taken effect)."""
        fill = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if (self.optimizer or fill.get("optimizer")) == "adam":
            fill.pop("momentum", None)
        return dataclasses.replace(self, **fill)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
