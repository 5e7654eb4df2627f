"""The machine's compute for training: each parallel job's share of the cores, and the precision
the hardware runs fast (bf16 where it computes bf16 natively, else fp32)."""

from __future__ import annotations

import os

import torch

from espcn_lightning.core.errors import ConfigError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX), not by emulation."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def slurm_cpus() -> int | None:
    """The CPUs SLURM granted this task (``SLURM_CPUS_PER_TASK``, at most the cores it may run on,
    where SLURM binds them), or None outside a SLURM job: a cluster that binds no cores leaves
    every core visible, so the job must take its share from SLURM's variables."""
    granted = os.environ.get("SLURM_CPUS_PER_TASK")
    if granted is None or not granted.isdigit():
        return None
    return max(1, min(int(granted), cpu_cores()))


def thread_share(n_jobs: int, cores: int | None = None) -> int:
    """Threads for one of ``n_jobs`` jobs running at once: an equal share of the cores, at
    least one. More threads than cores makes OpenMP's spinning threads wait on each other."""
    if n_jobs < 1:
        raise ConfigError(f"hydra.launcher.n_jobs={n_jobs}: use a positive number of jobs")
    return max(1, (cores or cpu_cores()) // n_jobs)


def limit_threads(threads: int) -> None:
    """Run this process's torch ops on ``threads`` threads, and tell OpenMP/MKL/OpenBLAS in any
    process it starts the same (they read the variables only when they start)."""
    if threads < 1:
        raise ConfigError(f"threads={threads}: use a positive number of threads")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)


def training_precision(precision: str | int, accelerator: str = "auto") -> str | int:
    """Lightning's precision for ``precision``; ``auto`` is bf16-mixed where the hardware computes
    bf16 natively (a CPU with AVX-512 BF16 or AMX, a CUDA GPU that supports it), else 32-true.
    Any other value is Lightning's own and passed through."""
    if precision != "auto":
        return precision
    cuda = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if cuda:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if native_bf16() else "32-true"
