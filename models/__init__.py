"""Pure PyTorch core of Latent Explorer: data, networks, losses, diffusion, checkpoints, training.

Never imports Qt: everything here runs headless and under torchrun.
"""

from .base import KINDS, ConfigError, GenerativeModel, ModelConfig
from .checkpoint import CheckpointError, load, save
from .data import DataError, ImageData, load_dataset
from .diffusion import DiffusionScheduler
from .registry import build_model, make_config
from .train import Progress, TrainConfig, TrainingError, train

__all__ = [
    "KINDS", "CheckpointError", "ConfigError", "DataError", "DiffusionScheduler", "GenerativeModel",
    "ImageData", "ModelConfig", "Progress", "TrainConfig", "TrainingError", "build_model", "load",
    "load_dataset", "make_config", "save", "train",
]
