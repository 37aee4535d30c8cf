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

from fedcore.config.data_check import EMBEDDED, check_data
from fedcore.config.settings import setting, settings
from fedcore.errors import FedXrayError

BACKBONES = ("cnn", "efficientnetv2s", "mobilenetv3small")
MODES = ("federated", "centralized", "local")
PARTITIONS = ("iid", "dirichlet")
STRATEGIES = (
    "fedavg",
    "fedprox",
    "fedavgm",
    "fedadam",
    "fedyogi",
    "scaffold",
    "median",
    "trimmed-mean",
    "krum",
)
# Rules that outvote misbehaving hospitals: a few sampled updates leave them no majority.
ROBUST_STRATEGIES = ("median", "trimmed-mean", "krum")
ATTACKS = ("none", "sign-flip", "scale", "label-flip", "noise")
DEFENCES = ("none", "drop-flagged")
LR_SCHEDULES = ("cosine", "constant")
DP_MODES = ("off", "patient", "hospital")
# "auto" is none, or group under patient-level DP (docs/privacy.md, "Group normalisation").
NORMALIZATIONS = ("auto", "none", "group", "batch", "fedbn")
BATCH_SIZE = 32
# Patient-level DP trains with SGD and momentum (fedcore.hospital.dp_training), not Adam, on
# large Poisson batches: the noise on a step's mean gradient shrinks with the batch.
DP_LEARNING_RATE = 0.5
DP_BATCH_SIZE = 1024

# Defaults that follow the federation's size (RunConfig.fraction, RunConfig.epochs): about three
# hospitals train each round (at least a twentieth of them), each for about 1 / fraction epochs
# (at most ten), so that a round stays about one pass over the federation's images. Measured at
# 30 and 100 hospitals: docs/strategies.md, "Many hospitals".
HOSPITALS_PER_ROUND = 3
MIN_FRACTION_FIT = 0.05
MAX_LOCAL_EPOCHS = 10

# The image size each backbone is designed for when --image-size is not given.
DEFAULT_IMAGE_SIZE = {"cnn": 28, "efficientnetv2s": 100, "mobilenetv3small": 96}


@dataclass
class RunConfig:
    """Hyper-parameters of one run (federated, centralized or local).

    Each field is declared with :func:`fedcore.config.settings.setting`: its help, choices,
    range and group sit next to its default, and the CLI, the dashboard form, the
    Flower run config and the README's options table are read from there
    (``python -m fedcore settings`` lists them). ``extra`` holds what a runtime adds
    (Flower's own settings) and keys of a stored config this version does not know.
    """

    # ---------------------------------------------------------------- model
    backbone: str = setting(
        "cnn",
        "model: cnn (small, the CPU default), efficientnetv2s (the original design), "
        "mobilenetv3small",
        choices=BACKBONES,
        group="model",
    )
    weights: str = setting(
        "random",
        "initial weights: random, imagenet (falls back to random with a notice "
        "offline) or a local .weights.h5 path",
        group="model",
    )
    image_size: int | None = setting(
        None,
        "model input side in pixels",
        none="28 cnn, 100 efficientnetv2s, 96 mobilenetv3small",
        minimum=16,
        maximum=512,
        group="model",
    )
    normalization: str = setting(
        "auto",
        "cnn: what follows each convolution before its relu: none; group (GroupNormalization, "
        "one image at a time, so patient-level DP can use it); batch (BatchNormalization, its "
        "statistics averaged like the weights); fedbn (the same, each hospital keeping its own "
        "between rounds, the global model averaging them; in-process runs only); auto is none, "
        "and group with patient-level DP (docs/strategies.md, docs/privacy.md)",
        choices=NORMALIZATIONS,
        group="model",
    )
    # ---------------------------------------------------------------- data and hospitals
    data: str = setting(
        EMBEDDED,
        "'embedded' (PneumoniaMNIST), a folder in the ROOT/HOSPITAL/hospital_k "
        "layout, or a MedMNIST-format .npz",
        group="data",
        flower=False,
    )
    hospitals: int = setting(
        3,
        "hospitals made from the embedded data or an .npz (a folder brings its own)",
        minimum=1,
        maximum=100,
        group="data",
    )
    partition: str = setting(
        "dirichlet",
        "how the embedded data is split: dirichlet (non-IID by label, unequal sizes) or iid",
        choices=PARTITIONS,
        group="data",
        flower=False,
    )
    alpha: float = setting(
        0.5, "Dirichlet concentration; smaller is more skewed", above=0, group="data", flower=False
    )
    acquisition_shift: bool = setting(
        False,
        "give each hospital its own scanner look (contrast, gamma, noise)",
        group="data",
        flower=False,
    )
    max_per_hospital: int | None = setting(
        None,
        "cap on training images per hospital (a quick look at a big data set)",
        none="no cap",
        minimum=2,
        maximum=10_000_000,
        group="data",
    )
    # ---------------------------------------------------------------- training
    mode: str = setting(
        "federated",
        "federated, centralized (pooled training data: the upper reference) or "
        "local (each hospital alone)",
        choices=MODES,
        flower=False,
    )
    rounds: int = setting(
        10,
        "federated rounds (centralized and local: epochs, one per round)",
        minimum=1,
        maximum=10_000,
    )
    local_epochs: int | None = setting(
        None,
        "epochs each hospital trains per round on its own images",
        none="1 up to 4 hospitals, 3 at 10, 10 from 30 (about 1 / fraction-fit)",
        minimum=1,
        maximum=1_000,
    )
    batch_size: int | None = setting(
        None,
        "local mini-batch size",
        none=f"{BATCH_SIZE}; {DP_BATCH_SIZE} with patient-level DP",
        minimum=1,
        maximum=1_000_000,
    )
    learning_rate: float | None = setting(
        None,
        "local learning rate",
        none="Adam 1e-3 cnn, 1e-4 others; SGD 0.5 with patient DP",
        above=0,
    )
    adam_epsilon: float = setting(
        1e-7,
        "epsilon of the hospitals' Adam; 1e-3 makes gradients far below it take "
        "SGD-sized steps, which stops a one-class hospital from saturating a FedAvg "
        "model but slows learning elsewhere (README, Strategies)",
        above=0,
    )
    rare_class_share: float = setting(
        0.25,
        "a hospital whose rarer class is under this share of its images puts "
        "that share of them in every local batch (drawn again as needed, their "
        "loss weighted down so the hospital's loss is unchanged): a hospital with "
        "a handful of one class no longer runs away with the other in its first "
        "Adam steps (README, Strategies); 0: plain shuffling; patient-level DP "
        "keeps its Poisson-sampled batches",
        minimum=0,
        below=0.5,
    )
    lr_schedule: str = setting(
        "cosine",
        "clients' learning rate over the rounds: cosine (decays to a tenth) or constant",
        choices=LR_SCHEDULES,
    )
    balanced_softmax: bool = setting(
        True,
        "each hospital adds the log of its own class shares to the logits "
        "in its loss (balanced softmax / logit adjustment): a hospital's label skew "
        "no longer pulls the shared model to its majority class; replaces class "
        "weighting",
    )
    class_weighting: bool = setting(
        True,
        "weight the loss by each hospital's inverse class frequency (used only "
        "with --no-balanced-softmax)",
    )
    threshold: float = setting(
        0.5, "P(pneumonia) at or above which an image is called PNEUMONIA", above=0, below=1
    )
    target_sensitivity: float = setting(
        0.0,
        "choose the operating point as the highest threshold whose pooled "
        "validation sensitivity reaches this (0: the maximum Youden J, "
        "sensitivity + specificity - 1)",
        minimum=0,
        maximum=1,
    )
    # ---------------------------------------------------------------- strategy
    strategy: str = setting(
        "scaffold", "server aggregation (README, Strategies)", choices=STRATEGIES, group="strategy"
    )
    fraction_fit: float | None = setting(
        None,
        "share of the hospitals sampled to train each round (at least one; "
        "in-process runs: Flower asks every connected SuperNode)",
        none="about 3 hospitals a round: all up to 3, 0.1 at 30, 0.05 from 60; all with "
        "median, trimmed-mean, krum or an attack",
        above=0,
        maximum=1,
        group="strategy",
        flower=False,
    )
    proximal_mu: float = setting(
        0.01,
        "fedprox: weight mu of the proximal term mu/2 ||w - w_global||^2",
        minimum=0,
        group="strategy",
    )
    server_learning_rate: float = setting(
        0.0,
        "server step along the averaged update (fedavgm, fedadam, "
        "fedyogi, scaffold; 0: 1 for fedavgm and scaffold, 0.01 for fedadam "
        "and fedyogi)",
        minimum=0,
        group="strategy",
    )
    server_momentum: float = setting(
        0.9,
        "fedavgm: server momentum; fedadam/fedyogi: beta1",
        minimum=0,
        below=1,
        group="strategy",
    )
    trim_beta: float = setting(
        0.2,
        "trimmed-mean: share of the updates cut at each end, per coordinate",
        minimum=0,
        below=0.5,
        group="strategy",
    )
    krum_byzantine: int = setting(
        1,
        "krum: hospitals that may be malicious (f)",
        minimum=0,
        maximum=97,
        group="strategy",
    )
    krum_select: int = setting(
        1,
        "krum: updates averaged (1: Krum, more: multi-Krum)",
        minimum=1,
        maximum=100,
        group="strategy",
    )
    attack: str = setting(
        "none",
        "simulate misbehaving hospitals: sign-flip or scale (update times "
        "-attack-scale or +attack-scale), label-flip (train on swapped labels), noise "
        "(Gaussian update)",
        choices=ATTACKS,
        group="strategy",
        flower=False,
    )
    attackers: int = setting(
        0,
        "how many hospitals attack (chosen by the seed)",
        minimum=0,
        maximum=100,
        group="strategy",
        flower=False,
    )
    attack_scale: float = setting(
        10.0,
        "factor of sign-flip and scale attacks; noise std in update norms",
        above=0,
        group="strategy",
        flower=False,
    )
    attack_claimed_examples: int = setting(
        0,
        "images each attacker claims to have trained on (0: its true count): a large claim "
        "buys its update most of FedAvg's weight",
        minimum=0,
        maximum=100_000_000,
        group="strategy",
        flower=False,
    )
    defence: str = setting(
        "none",
        "drop-flagged: leave out of the aggregate every update the server flags as an outlier "
        "(norm far above the others', or pointing away from them); works with every strategy",
        choices=DEFENCES,
        group="strategy",
        flower=False,
    )
    contribution: bool = setting(
        False,
        "score each hospital's contribution every round: the global model's validation AUROC "
        "without its update (leave-one-out, up to 10 hospitals; K extra aggregates and "
        "validation passes a round, about a tenth more time, hence off by default)",
        group="strategy",
        flower=False,
    )
    seed: int = setting(
        42,
        "seeds the partition, the initial weights and every local step",
        minimum=0,
        maximum=2**31 - 1,
    )
    # ---------------------------------------------------------------- differential privacy
    dp: str = setting(
        "off",
        "patient: DP-SGD at each hospital (epsilon per hospital); hospital: each "
        "update clipped, noise on the aggregate",
        choices=DP_MODES,
        group="privacy",
        label="privacy mode",
    )
    dp_noise_multiplier: float = setting(
        1.0,
        "sigma: noise standard deviation over the clipping norm",
        above=0,
        group="privacy",
        label="the DP noise multiplier",
        why="without noise epsilon is infinite; use dp 'off' to train without privacy",
    )
    dp_clip_norm: float = setting(
        1.0,
        "C: L2 bound on one example's gradient (patient) or one hospital's update (hospital)",
        above=0,
        group="privacy",
        label="the DP clipping norm",
        why="it bounds what one patient or hospital can change; 1.0 is a good start",
    )
    dp_delta: float = setting(
        1e-5,
        "the delta of (epsilon, delta); keep it below 1 / (images at the smallest hospital)",
        above=0,
        below=1,
        group="privacy",
        label="DP delta",
        why="it is a probability of failure; 1e-5 is usual",
    )
    dp_target_epsilon: float | None = setting(
        None,
        "solve sigma with dp-accounting so that epsilon after all "
        "rounds is at most this (overrides the noise multiplier)",
        none="none: use the noise multiplier",
        above=0,
        group="privacy",
        label="the target epsilon",
    )
    dp_budget: float | None = setting(
        None,
        "stop training after the last round whose epsilon stays within this budget (the run "
        "ends 'budget spent')",
        none="no budget: train every round",
        above=0,
        group="privacy",
        label="the privacy budget",
    )
    audit_every: int = setting(
        0,
        "membership-inference audit every N rounds (0: only `audit RUN`)",
        minimum=0,
        maximum=10_000,
        group="privacy",
        flower=False,
    )
    extra: dict = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        """The model's input side in pixels."""
        return self.image_size or DEFAULT_IMAGE_SIZE[self.backbone]

    @property
    def batch(self) -> int:
        """The local batch size actually used: the privacy default under patient-level DP."""
        if self.batch_size is not None:
            return self.batch_size
        return DP_BATCH_SIZE if self.dp == "patient" else BATCH_SIZE

    @property
    def norm(self) -> str:
        """The CNN's normalisation actually used: the privacy default under patient-level DP."""
        if self.normalization != "auto":
            return self.normalization
        return "group" if self.dp == "patient" and self.backbone == "cnn" else "none"

    @property
    def fraction(self) -> float:
        """The share of hospitals sampled each round actually used: it follows ``hospitals``."""
        if self.fraction_fit is not None:
            return self.fraction_fit
        if self.mode != "federated" or self.extra.get("runtime") == "flower":
            return 1.0  # one pooled site, or each hospital alone; Flower asks every SuperNode
        if self.strategy in ROBUST_STRATEGIES or self.attack != "none":
            return 1.0  # outvoting misbehaving hospitals needs every update
        return min(1.0, max(HOSPITALS_PER_ROUND / self.hospitals, MIN_FRACTION_FIT))

    @property
    def epochs(self) -> int:
        """The local epochs actually used: about one pass over the federation's images a round."""
        if self.local_epochs is not None:
            return self.local_epochs
        return min(MAX_LOCAL_EPOCHS, max(1, round(1 / self.fraction)))

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

        Every declared range and choice first (numbers must be finite), then the
        rules that tie two settings together.

        Returns
        -------
        RunConfig
            self, for chaining.
        """
        for declared in settings(type(self)):
            problem = declared.problem(getattr(self, declared.name))
            if problem:
                raise FedXrayError(problem)
        checks = [
            (
                self.dp != "patient" or self.backbone == "cnn",
                f"patient-level DP needs the cnn backbone (got {self.backbone}): "
                "the ImageNet backbones' batch normalisation mixes the examples of a batch, "
                "which per-example clipping cannot bound",
            ),
            (
                self.dp != "patient" or self.norm in ("none", "group"),
                f"patient-level DP needs --normalization group or none (got {self.normalization}): "
                "batch normalisation mixes the examples of a batch, which per-example clipping "
                "cannot bound",
            ),
            (
                self.normalization in ("auto", "none") or self.backbone == "cnn",
                f"--normalization {self.normalization} is for the cnn backbone: "
                f"{self.backbone} brings its own batch normalisation",
            ),
            (
                self.normalization != "fedbn" or self.extra.get("runtime") != "flower",
                "fedbn keeps each hospital's normalisation in the in-process engine only: "
                "over Flower choose --normalization batch, group or none",
            ),
            (
                self.attackers <= self.hospitals
                and (self.attack == "none") == (self.attackers == 0),
                f"--attack {self.attack} with --attackers {self.attackers}: "
                f"name an attack and 1 to {self.hospitals} attackers, or neither",
            ),
            (
                self.dp != "hospital" or self.mode == "federated",
                "hospital-level DP protects what hospitals send to a server: it needs mode "
                f"federated (got {self.mode})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise FedXrayError(message)
        check_data(self.data)
        if self.data == EMBEDDED or not Path(self.data.strip()).expanduser().is_dir():
            self.check_hospitals(self.hospitals)  # a folder's own count is checked once read
        return self

    def hospitals_per_round(self, hospitals: int) -> int:
        """How many of ``hospitals`` train in a round: a :attr:`fraction` share, at least one."""
        if self.fraction >= 1 or hospitals <= 1:
            return hospitals
        return max(1, int(round(self.fraction * hospitals)))

    def check_hospitals(self, hospitals: int) -> None:
        """Raise FedXrayError when the settings need more hospitals than the data brings.

        Krum compares each update with its n - f - 2 nearest, so it needs f + 3 updates a
        round; found before a run exists, not as a failed first round.
        """
        n = self.hospitals_per_round(hospitals)
        f = self.krum_byzantine
        if self.mode == "federated" and self.strategy == "krum" and n < f + 3:
            fix = f"at most {n - 3}" if n >= 3 else "choose another --strategy"
            raise FedXrayError(
                f"krum with --krum-byzantine {f} needs at least {f + 3} hospitals training each "
                f"round, and this run has {n}: lower --krum-byzantine ({fix}) or add hospitals"
            )

    def to_dict(self) -> dict:
        """Plain dict for JSON and the run store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Inverse of :meth:`to_dict`; unknown keys go to ``extra`` rather than failing."""
        names = {f.name for f in dataclasses.fields(cls)}
        # A run stored before the setting existed had no normalisation, with or without DP.
        values = {"normalization": "none"} | dict(values)
        known = {k: v for k, v in values.items() if k in names}
        unknown = {k: v for k, v in values.items() if k not in names}
        config = cls(**known)
        config.extra.update(unknown)
        return config
