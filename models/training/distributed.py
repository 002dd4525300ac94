"""Training across processes on PyTorch's own engine (torch.distributed: gloo on CPU, nccl on CUDA).

    torchrun --standalone --nproc_per_node=2 -m latent_explorer.models.cli train --model vae --data digits ...

Data-parallel exactly as DistributedDataParallel does it: every rank starts from rank 0's parameters
(broadcast), sees its own shard of each epoch (a ``DistributedSampler``, reshuffled per epoch), and
before every optimizer step the gradients are averaged across ranks (one all-reduce of a flattened
bucket), so all ranks take identical steps. The averaging is called by the models' own ``optimize``
step rather than by wrapping modules in ``DistributedDataParallel``: GAN, AAE and WGAN-GP steps call
the same submodule several times per step (real and fake batches, gradient penalties, encoder phases),
which DDP's reducer forbids without ``find_unused_parameters`` and extra synchronisation. Only rank 0
logs, writes previews and saves (atomically); the checkpoint format is the same as a 1-process run's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.utils.data.distributed import DistributedSampler


@dataclass
class World:
    rank: int
    size: int
    local_rank: int
    device: str

    @classmethod
    def from_env(cls) -> World | None:
        """The process group set up by torchrun (RANK / WORLD_SIZE in the environment), or None."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1 or "RANK" not in os.environ:
            return None
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            backend, device = "nccl", f"cuda:{local_rank}"
        else:
            backend, device = "gloo", "cpu"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), dist.get_world_size(), local_rank, device)

    def attach(self, model) -> None:
        """Start every rank from rank 0's weights and average gradients before each step."""
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(t.data, src=0)
        model.grad_sync = self.average_gradients

    def average_gradients(self, params) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.size
        for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            g.copy_(synced)

    def epoch_indices(self, n: int, epoch: int, seed: int) -> torch.Tensor:
        """This rank's shard of epoch ``epoch``: a DistributedSampler over n items, set to the epoch."""
        sampler = DistributedSampler(range(n), num_replicas=self.size, rank=self.rank, shuffle=True, seed=seed,
                                     drop_last=True)
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler), dtype=torch.long)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The average of per-rank figures (epoch losses), in a fixed key order."""
        if not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        mean = {k: float(v) / self.size for k, v in zip(keys, t.tolist())}
        return {k: mean[k] for k in values}

    def barrier(self) -> None:
        dist.barrier()

    def close(self, together: bool = True) -> None:
        """Destroy the group; ``together`` (a run that ended well on every rank): after a barrier, since a rank
        that tore down its Gloo pairs while another still used them aborted now and then at exit ("terminate
        called without an active exception", under load). A failed run leaves at once: another rank may be in
        a collective that no barrier would meet."""
        if dist.is_initialized():
            if together:
                try:
                    dist.barrier()
                except RuntimeError:  # another rank has gone: nothing to wait for
                    pass
            dist.destroy_process_group()
