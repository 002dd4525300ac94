"""Bare reference implementations that our figures are compared with (plain PyTorch / numpy)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class BareVAE(nn.Module):
    """pytorch/examples vae/main.py: 784-400-20-400-784, BCE-sum + KL, Adam 1e-3, batch 128."""

    def __init__(self, n_in=784, hidden=400, latent=20):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(n_in, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, n_in)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def vae_loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def bare_vae_heldout_nats(train_x: np.ndarray, val_x: np.ndarray, epochs=10, seed=0, latent=20) -> float:
    """Train the bare VAE with a plain loop; return the held-out loss in nats/image."""
    torch.manual_seed(seed)
    x = torch.from_numpy(train_x.reshape(len(train_x), -1))
    v = torch.from_numpy(val_x.reshape(len(val_x), -1))
    model = BareVAE(x.shape[1], 400, latent)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            xb = x[perm[i : i + 128]]
            opt.zero_grad()
            loss = vae_loss(*_fwd(model, xb))
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(seed)
        return vae_loss(*_fwd(model, v)).item() / len(v)


def _fwd(model, x):
    recon, mu, logvar = model(x)
    return recon, x, mu, logvar


def pca_mse(train_x: np.ndarray, val_x: np.ndarray, k: int) -> float:
    """Held-out reconstruction MSE of PCA with k components fitted on the training images."""
    a = train_x.reshape(len(train_x), -1).astype(np.float64)
    b = val_x.reshape(len(val_x), -1).astype(np.float64)
    mean = a.mean(0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
    w = vt[:k]
    rec = (b - mean) @ w.T @ w + mean
    return float(((rec - b) ** 2).mean())
