"""Pure PyTorch core of Latent Explorer: the kind registry, networks, losses, diffusion, checkpoints,
training, latent-space maths.

Never imports Qt: everything here runs headless and under torchrun.
"""

from .base import GenerativeModel, ModelConfig
from .checkpoint import load, save
from .data import DataError, ImageData, load_dataset
from .diffusion import DiffusionScheduler
from .errors import CheckpointError, ConfigError
from .registry import Capabilities, KindSpec, build_model, kinds, make_config, register, unregister
from .train import Progress, TrainConfig, TrainingError, train

__all__ = [
    "Capabilities", "CheckpointError", "ConfigError", "DataError", "DiffusionScheduler", "GenerativeModel",
    "ImageData", "KindSpec", "ModelConfig", "Progress", "TrainConfig", "TrainingError", "build_model", "kinds",
    "load", "load_dataset", "make_config", "register", "save", "train", "unregister",
]
