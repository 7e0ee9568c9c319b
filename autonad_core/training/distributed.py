"""Multi-GPU training with `torchrun`: the process group is initialised from the environment torchrun
sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT). A plain `python`/`autonad` launch is a world of
one and touches no process group.

Correct by construction for the supernet: every rank draws the SAME architecture at each step because
the architecture generator is seeded from (seed, epoch, step), never from rank-local state; the
DistributedSampler gives each rank a disjoint shard; DDP averages gradients (`find_unused_parameters`
because each subnet uses a subset of the supernet's weights). Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.barrier()


def init_distributed(device: str) -> tuple[DistContext, str]:
    """Join the torchrun process group if WORLD_SIZE > 1; returns the context and this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), device
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank), device


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
