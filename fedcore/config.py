"""Every default of a run in one place.

A run's hyper-parameters live in :class:`RunConfig`; they are overridden only at the
entry points (CLI, dashboard form, Flower run config) and logged with every run.
Which hospital a process is, and where its images are, is a node's identity and is
not part of this config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from fedcore.errors import FedXrayError

BACKBONES = ("cnn", "efficientnetv2s", "mobilenetv3small")
MODES = ("federated", "centralized", "local")
PARTITIONS = ("iid", "dirichlet")
STRATEGIES = ("fedavg",)
LR_SCHEDULES = ("cosine", "constant")
DP_MODES = ("off", "patient", "hospital")
EMBEDDED = "embedded"
# Patient-level DP trains with SGD + momentum (see fedcore.dp_sgd); its step size is not Adam's.
DP_LEARNING_RATE = 0.5

# The image size each backbone is designed for when --image-size is not given.
DEFAULT_IMAGE_SIZE = {"cnn": 28, "efficientnetv2s": 100, "mobilenetv3small": 96}


@dataclass
class RunConfig:
    """Hyper-parameters of one run (federated, centralized or local).

    Attributes
    ----------
    rounds : int
        Federated rounds (for centralized/local: epochs, one per round). Default 10.
    local_epochs : int
        Epochs each hospital trains per round on its own images. Default 1.
    hospitals : int
        Hospitals made from the embedded data (ignored for a folder: its hospitals count).
    backbone : str
        ``cnn`` (small, CPU default), ``efficientnetv2s`` (original design),
        ``mobilenetv3small``.
    weights : str
        Backbone initialisation: ``random``, ``imagenet`` (download; falls back to
        random with a notice when offline) or a path to a local ``.weights.h5``/``.keras``.
    image_size : int or None
        Side of the square model input in pixels; None takes the backbone's default.
    data : str
        ``embedded`` (PneumoniaMNIST in assets/), a folder in the original layout, or
        a MedMNIST-format ``.npz``.
    partition : str
        ``dirichlet`` (non-IID by label, unequal sizes) or ``iid``. Embedded data only.
    alpha : float
        Dirichlet concentration; smaller is more skewed. Default 0.5.
    acquisition_shift : bool
        Give each hospital its own scanner look (contrast, gamma, noise). Default off.
    max_per_hospital : int or None
        Cap on training images per hospital (a quick look at a big data set).
    batch_size : int
        Local mini-batch size. Default 32.
    learning_rate : float
        Local learning rate; None takes the default: Adam at 1e-3 (cnn) or 1e-4 (others),
        and with patient-level DP, SGD with momentum 0.9 at DP_LEARNING_RATE.
    lr_schedule : str
        ``cosine`` (decay the clients' rate to a tenth over the rounds) or ``constant``.
    class_weighting : bool
        Weight the loss by each hospital's inverse class frequency (its own counts).
        Without it the model collapses to always answering PNEUMONIA on this data.
    threshold : float
        P(pneumonia) at or above which an image is called PNEUMONIA. Default 0.5.
    mode : str
        ``federated``, ``centralized`` (pooled training data: the upper reference) or
        ``local`` (each hospital alone).
    strategy : str
        Server aggregation. Default ``fedavg``.
    seed : int
        Seeds the partition, the initial weights and every local step.
    dp : str
        Differential privacy (docs/privacy.md): ``off`` (default); ``patient`` (DP-SGD
        at each hospital: per-example clipping and noise, epsilon per hospital);
        ``hospital`` (each hospital's update clipped, noise on the aggregate).
    dp_noise_multiplier : float
        sigma: noise standard deviation over the clipping norm. Default 1.0.
    dp_clip_norm : float
        C: L2 bound on one example's gradient (patient) or one hospital's weight
        update (hospital). Default 1.0.
    dp_delta : float
        The delta of (epsilon, delta); keep it well below 1 / (images at the smallest
        hospital). Default 1e-5.
    dp_target_epsilon : float or None
        When set, the noise multiplier is solved with dp-accounting so that epsilon
        after all rounds is at most this (per hospital), and dp_noise_multiplier is ignored.
    audit_every : int
        Run the membership-inference audit every this many rounds (0: only on demand,
        ``python -m fedcore audit RUN``).
    """

    rounds: int = 10
    local_epochs: int = 1
    hospitals: int = 3
    backbone: str = "cnn"
    weights: str = "random"
    image_size: int | None = None
    data: str = EMBEDDED
    partition: str = "dirichlet"
    alpha: float = 0.5
    acquisition_shift: bool = False
    max_per_hospital: int | None = None
    batch_size: int = 32
    learning_rate: float | None = None
    lr_schedule: str = "cosine"
    class_weighting: bool = True
    threshold: float = 0.5
    mode: str = "federated"
    strategy: str = "fedavg"
    seed: int = 42
    dp: str = "off"
    dp_noise_multiplier: float = 1.0
    dp_clip_norm: float = 1.0
    dp_delta: float = 1e-5
    dp_target_epsilon: float | None = None
    audit_every: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        """The model's input side in pixels."""
        return self.image_size or DEFAULT_IMAGE_SIZE[self.backbone]

    @property
    def lr(self) -> float:
        """The learning rate actually used."""
        if self.learning_rate is not None:
            return self.learning_rate
        if self.dp == "patient":
            return DP_LEARNING_RATE
        return 1e-3 if self.backbone == "cnn" else 1e-4

    def validate(self) -> "RunConfig":
        """Raise FedXrayError naming the first setting that cannot run.

        Returns
        -------
        RunConfig
            self, for chaining.
        """
        checks = [
            (self.rounds >= 1, f"rounds must be at least 1 (got {self.rounds})"),
            (self.local_epochs >= 1, f"local epochs must be at least 1 (got {self.local_epochs})"),
            (self.hospitals >= 1, f"hospitals must be at least 1 (got {self.hospitals})"),
            (self.backbone in BACKBONES, f"unknown model '{self.backbone}': choose one of {', '.join(BACKBONES)}"),
            (self.mode in MODES, f"unknown mode '{self.mode}': choose one of {', '.join(MODES)}"),
            (self.partition in PARTITIONS, f"unknown partition '{self.partition}': choose iid or dirichlet"),
            (self.strategy in STRATEGIES, f"unknown strategy '{self.strategy}': choose one of {', '.join(STRATEGIES)}"),
            (self.lr_schedule in LR_SCHEDULES, f"unknown learning-rate schedule '{self.lr_schedule}': choose cosine or constant"),
            (self.alpha > 0, f"alpha must be positive (got {self.alpha})"),
            (self.batch_size >= 1, f"batch size must be at least 1 (got {self.batch_size})"),
            (0.0 < self.threshold < 1.0, f"threshold must be between 0 and 1 (got {self.threshold})"),
            (self.image_size is None or 16 <= self.image_size <= 512,
             f"image size must be between 16 and 512 pixels (got {self.image_size})"),
            (self.max_per_hospital is None or self.max_per_hospital >= 2,
             f"max per hospital must be at least 2 (got {self.max_per_hospital})"),
            (self.learning_rate is None or self.learning_rate > 0,
             f"learning rate must be positive (got {self.learning_rate})"),
            (self.dp in DP_MODES, f"unknown privacy mode '{self.dp}': choose one of {', '.join(DP_MODES)}"),
            (self.dp_noise_multiplier > 0,
             f"the DP noise multiplier must be positive (got {self.dp_noise_multiplier}): without noise "
             "epsilon is infinite; use dp 'off' to train without privacy"),
            (self.dp_clip_norm > 0, f"the DP clipping norm must be positive (got {self.dp_clip_norm}): "
             "it bounds what one patient or hospital can change; 1.0 is a good start"),
            (0 < self.dp_delta < 1, f"DP delta must be between 0 and 1, exclusive (got {self.dp_delta}): "
             "it is a probability of failure; 1e-5 is usual"),
            (self.dp_target_epsilon is None or self.dp_target_epsilon > 0,
             f"the target epsilon must be positive (got {self.dp_target_epsilon})"),
            (self.audit_every >= 0, f"audit every must be 0 (off) or a number of rounds (got {self.audit_every})"),
            (self.dp != "patient" or self.backbone == "cnn",
             f"patient-level DP needs the cnn backbone (got {self.backbone}): the ImageNet backbones' "
             "batch normalisation mixes the examples of a batch, which per-example clipping cannot bound"),
            (self.dp != "hospital" or self.mode == "federated",
             f"hospital-level DP protects what hospitals send to a server: it needs mode federated (got {self.mode})"),
        ]
        for ok, message in checks:
            if not ok:
                raise FedXrayError(message)
        if self.data != EMBEDDED and not Path(self.data).exists():
            raise FedXrayError(f"data path '{self.data}' does not exist: give a folder in the "
                               "ROOT/HOSPITAL/hospital_k/{train,val,test} layout, a .npz, or 'embedded'")
        return self

    def to_dict(self) -> dict:
        """Plain dict for JSON and the run store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Inverse of :meth:`to_dict`; unknown keys go to ``extra`` rather than failing."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in names}
        unknown = {k: v for k, v in values.items() if k not in names}
        config = cls(**known)
        config.extra.update(unknown)
        return config
