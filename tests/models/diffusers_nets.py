"""Tiny diffusers networks for tests (not a test module): a UNet2DModel and an AutoencoderKL."""

import diffusers
import torch


def _unet(in_channels=1, out_channels=None, size=8):
    torch.manual_seed(0)
    return diffusers.UNet2DModel(sample_size=size, in_channels=in_channels,
                                 out_channels=out_channels or in_channels, block_out_channels=(8, 16),
                                 layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)


def _vae():
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                                   down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                                   up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4,
                                   sample_size=16)
