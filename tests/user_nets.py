"""Modules as a user writes them, at a module's top level so that a saved file can name them
(``latent_explorer.save`` / ``Recorder``)."""

import torch
from torch import nn


class SmallAE(nn.Module):
    def __init__(self, latent_dim=2, width=32):
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, latent_dim))
        self.dec = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, 64))

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, 1, 8, 8)


class Opaque(nn.Module):
    """A generator that keeps none of its constructor's arguments."""

    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(n, 64)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)
