"""Pure PyTorch core of Latent Explorer: the kind registry, networks, losses, diffusion, checkpoints,
training, latent-space maths.

Never imports Qt: everything here runs headless and under torchrun.
"""

from models.base import GenerativeModel, ModelConfig
from models.data import DataError, ImageData, load_dataset
from models.errors import CheckpointError, ConfigError
from models.io.checkpoint import load, save
from models.registry import Capabilities, KindSpec, build_model, kinds, make_config, register, unregister
from models.sampling.schedule import DiffusionScheduler
from models.training.train import Progress, TrainConfig, TrainingError, train

__all__ = [
    "Capabilities", "CheckpointError", "ConfigError", "DataError", "DiffusionScheduler", "GenerativeModel",
    "ImageData", "KindSpec", "ModelConfig", "Progress", "TrainConfig", "TrainingError", "build_model", "kinds",
    "load", "load_dataset", "make_config", "register", "save", "train", "unregister",
]
