"""Pure PyTorch core of Latent Explorer: the kind registry, networks, losses, diffusion, checkpoints,
training, latent-space maths.

Never imports Qt: everything here runs headless and under torchrun.
"""

from latent_explorer.models.base import GenerativeModel, ModelConfig
from latent_explorer.models.data import DataError, ImageData, load_dataset
from latent_explorer.models.errors import CheckpointError, ConfigError
from latent_explorer.models.io.checkpoint import load, save
from latent_explorer.models.registry import (
    Capabilities,
    KindSpec,
    build_model,
    kinds,
    make_config,
    register,
    unregister,
)
from latent_explorer.models.sampling.schedule import DiffusionScheduler
from latent_explorer.models.training.train import Progress, TrainConfig, TrainingError, train

__all__ = [
    "Capabilities", "CheckpointError", "ConfigError", "DataError", "DiffusionScheduler", "GenerativeModel",
    "ImageData", "KindSpec", "ModelConfig", "Progress", "TrainConfig", "TrainingError", "build_model", "kinds",
    "load", "load_dataset", "make_config", "register", "save", "train", "unregister",
]
