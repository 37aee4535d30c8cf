"""Which hospital a run builds: DP-SGD training for patient-level DP, plain training otherwise."""

from __future__ import annotations

from fedcore.config.run_config import RunConfig
from fedcore.data import HospitalData
from fedcore.hospital.dp_training import DPHospital
from fedcore.hospital.training import Hospital
from fedcore.model.networks import BuiltModel


def make_hospital(data: HospitalData, built: BuiltModel, config: RunConfig, index: int) -> Hospital:
    """A hospital that trains as ``config.dp`` asks: DP-SGD for 'patient', plain otherwise."""
    if config.dp == "patient":
        return DPHospital(data, built, config, index)
    return Hospital(data, built, config, index)
