"""Where the runs of a benchmark execute: on this machine, or as Ray tasks on a cluster.

``--executor local`` (the default) runs them one after another, or ``--workers`` at a time in a pool of
spawned processes. ``--executor ray`` makes each run one Ray task that declares 1 CPU (and
``--gpus-per-run`` GPUs, a fraction shares a GPU between runs). Without ``--ray-address`` a private Ray instance
with ``--workers`` CPUs is started on this machine; ``--ray-address auto`` joins the cluster that this machine
is a node of (``ray start --head`` / ``ray start --address=HEAD:6379``), ``ray://HEAD:10001`` joins one from
outside. Either way each run writes the same files into ``--logdir``, which on a cluster must be a folder that
every node mounts at the same path.

A run that raises is retried once, in a fresh process. A run that fails twice is reported at the end and
the benchmark exits non-zero naming it; the other runs go on, and their records are kept, so the same
command run again repeats only the failed runs.
"""

from __future__ import annotations

import multiprocessing
import sys
import traceback
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar


class Named(Protocol):
    """What the executors need of a run: a name (``benchmarks.run.RunSpec`` has one), for messages and Ray."""

    @property
    def name(self) -> str: ...


Spec = TypeVar("Spec", bound=Named)  # the run specs of the caller, e.g. benchmarks.run.RunSpec

EXECUTORS = ("local", "ray")
RAY_MISSING = "Ray is not installed; it is an optional extra: pip install 'aihf-control[ray]'"
# Runs pass Ray only their spec and record (kilobytes): the object store needs no more than Ray's minimum.
OBJECT_STORE_BYTES = 100 * 2**20


def import_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(RAY_MISSING) from error
    return ray


def init_ray(address: str | None, num_cpus: int) -> bool:
    """Connect this process to Ray, unless it is connected already.

    :param address: None starts a private Ray instance on this machine; ``"auto"``, ``"host:port"`` or
        ``"ray://host:10001"`` joins a running cluster
    :param num_cpus: CPUs of a private instance, i.e. runs at a time (ignored when joining a cluster)
    :return: whether this call connected (the caller then disconnects with ``ray.shutdown()``)
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES)
    else:
        # The cluster's nodes may have aihf_control installed but not this checkout: ship the benchmarks package.
        ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).parent)]})
    return True


def run_all(
    run_one: Callable[[Spec], dict],
    specs: Sequence[Spec],
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    gpus_per_run: float = 0.0,
    retries: int = 1,
) -> list[Spec]:
    """Call ``run_one(spec)`` for every spec, each failed call again up to ``retries`` times.

    :param run_one: trains and evaluates one run and writes its files; a module-level function (it is pickled)
    :param specs: the runs
    :param workers: runs at a time: processes of the local pool, or CPUs of a private Ray instance
    :param executor: ``"local"`` or ``"ray"``
    :param ray_address: see :func:`init_ray`
    :param gpus_per_run: GPUs each Ray task declares (0.25: four runs share a GPU); local runs ignore it
    :param retries: further attempts of a run that raised
    :return: the specs that failed every attempt (their errors are printed to stderr)
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if not specs:
        return []
    if executor == "ray":
        failed = _run_on_ray(run_one, specs, workers, ray_address, gpus_per_run, retries)
    else:
        failed, pending = [], list(specs)
        for attempt in range(retries + 1):
            if attempt:
                print(f"retrying {len(pending)} failed run(s): {', '.join(s.name for s in pending)}", flush=True)
            errors = _run_locally(run_one, pending, workers)
            failed = [spec for spec, error in zip(pending, errors, strict=True) if error is not None]
            pending = failed
            if not pending:
                break
    if failed:
        print(
            f"{len(failed)} of {len(specs)} run(s) failed {retries + 1} time(s): {', '.join(s.name for s in failed)}",
            file=sys.stderr,
            flush=True,
        )
    return failed


def _attempt(run_one: Callable[[Spec], dict], spec: Spec) -> str | None:
    """Run one spec; return None, or the traceback of its failure (printed at once, not at the end)."""
    try:
        run_one(spec)
        return None
    except Exception:
        error = traceback.format_exc()
        print(f"run {spec.name} failed:\n{error}", file=sys.stderr, flush=True)
        return error


def _run_locally(run_one: Callable[[Spec], dict], specs: list[Spec], workers: int) -> list[str | None]:
    """One attempt of every spec, in this process or in a pool; returns each one's error or None."""
    if workers == 1 or len(specs) == 1:
        return [_attempt(run_one, spec) for spec in specs]
    # spawn: each worker imports torch afresh and sets its own single thread; maxtasksperchild=1: a fresh
    # process per run, so a retry does not inherit the failed run's state
    with multiprocessing.get_context("spawn").Pool(min(workers, len(specs)), maxtasksperchild=1) as pool:
        return pool.map(partial(_attempt, run_one), specs, chunksize=1)


def _one_threaded(run_one: Callable[[Spec], dict], spec: Spec) -> dict:
    """The body of a Ray task: a run declares one CPU, so it uses one torch thread."""
    import torch

    torch.set_num_threads(1)
    return run_one(spec)


def _run_on_ray(
    run_one: Callable[[Spec], dict],
    specs: Sequence[Spec],
    workers: int,
    address: str | None,
    gpus_per_run: float,
    retries: int,
) -> list[Spec]:
    ray = import_ray()
    connected = init_ray(address, workers)
    try:
        # retry_exceptions: Ray also retries a run that raised, not only one whose worker died;
        # max_calls=1: each run gets a fresh worker process, as in the local pool
        resources = dict(num_cpus=1, num_gpus=gpus_per_run)
        task = ray.remote(max_retries=retries, retry_exceptions=True, max_calls=1, **resources)(_one_threaded)
        pending = {task.options(name=spec.name).remote(run_one, spec): spec for spec in specs}
        print(f"{len(pending)} Ray tasks submitted; cluster resources: {ray.cluster_resources()}", flush=True)
        failed = []
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(ready)
            try:
                ray.get(ready)
                print(f"{spec.name} done; {len(pending)} run(s) to go", flush=True)
            except ray.exceptions.RayError as error:
                print(f"run {spec.name} failed:\n{error}", file=sys.stderr, flush=True)
                failed.append(spec)
        return failed
    finally:
        if connected:
            ray.shutdown()
