"""A map over work items that runs in this process or on a Ray cluster (`snnc eval --ray`).

    results = Executor(ray=None).map(fn, items, shared=(a, b))   # [fn(a, b, item) for item in items]

`ray=None` runs every item here, in order, one after another (the default: no Ray needed). With
an address ("auto": the running cluster that `ray start --head` started on this machine, or
RAY_ADDRESS; "local": a new single-machine instance; "HOST:PORT" or "ray://HOST:PORT": that
cluster) every item is one Ray task; `shared` objects are put into Ray's object store once and
handed to every task. The results come back in the order of `items` in both cases, and they are
the same values: a work item is a pure function of its arguments (eval's items are integer sums
over fixed batches of samples, see `evaluate.evaluate`), so where it runs does not change what it
returns. One caveat, which the tasks handle: the float side of a compile (calibration statistics,
λ) goes through the BLAS, whose sums depend on its thread count (OpenBLAS at 1 and 2 threads
differs in the last bit of λ). Ray starts a task with OMP_NUM_THREADS = its CPUs (1), so every task
here is given this process's BLAS thread count (`blas_threads`): the same λ bit for bit on machines
with the same CPU kind and numpy build. The SNN simulation is integer and identical anywhere.

Ray is optional (`pip install ray`); it is imported only when an address is given, and a missing
Ray is one `SnncError` that says how to install it.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Sequence

from snnc.compiler.errors import SnncError

Progress = Callable[[Iterator, str], Iterator]


def import_ray():
    try:
        import ray
    except ImportError:
        raise SnncError("--ray needs the optional Ray package: pip install ray (or run without --ray)") from None
    return ray


class Executor:
    """Runs work items here (`ray=None`) or as Ray tasks on the cluster at `ray` (module docstring)."""

    def __init__(self, ray: str | None = None, *, progress: Progress | None = None):
        self.address = ray
        self.progress = progress or (lambda it, desc: it)

    @property
    def distributed(self) -> bool:
        return self.address is not None

    def __repr__(self) -> str:
        return f"Executor(ray={self.address!r})"

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *, shared: Sequence[Any] = (),
            desc: str = "work items") -> list[Any]:
        """[fn(*shared, item) for item in items], here or on Ray; in the order of `items`."""
        items = list(items)
        if not self.distributed:
            return [fn(*shared, item) for item in self._wrap(items, desc)]
        ray = connect(self.address)
        n = blas_threads()
        env = {k: n for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        remote = ray.remote(runtime_env={"env_vars": env})(fn)
        refs = [ray.put(s) for s in shared]
        pending = [remote.remote(*refs, item) for item in items]
        out = []
        for ref in self._wrap(pending, desc):  # in order; the tasks run concurrently meanwhile
            out.append(ray.get(ref))
        return out

    def _wrap(self, items: list, desc: str) -> Iterable:
        return self.progress(items, desc) if len(items) > 1 else items


def connect(address: str):
    """ray, initialised for `address` (once per process; an already initialised Ray is reused)."""
    ray = import_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address != "local":
            kwargs["address"] = address
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise SnncError(f"--ray {address}: cannot connect to a Ray cluster ({exc}); start one with "
                            "`ray start --head`, or pass --ray local for a single-machine instance") from None
    return ray


def blas_threads() -> str:
    """This process's BLAS thread count, as OpenBLAS chooses it: the first of OPENBLAS_NUM_THREADS,
    GOTO_NUM_THREADS, OMP_NUM_THREADS that is set, else the number of CPUs."""
    for key in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(key, "").strip():
            return os.environ[key].strip()
    return str(os.cpu_count() or 1)


def shard_ranges(n: int, batch_size: int, shard_batches: int) -> list[tuple[int, int]]:
    """[start, stop) sample ranges covering 0..n, each `shard_batches` whole batches of
    `batch_size` (the last may be shorter), so every batch holds the same samples as in one run."""
    step = batch_size * max(1, shard_batches)
    return [(a, min(n, a + step)) for a in range(0, n, step)]
