"""The Dask cluster a batch runs on: an embedded LocalCluster of worker processes sized to this
machine, or an existing scheduler given by address (dask-jobqueue, Kubernetes, `dask scheduler`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import PansharpenError
from ..machine import THREADS_ENV


@dataclass
class Cluster:
    client: Any  # distributed.Client
    local: Any  # the LocalCluster we started, or None on an existing scheduler
    dashboard: Optional[str]

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.local is not None:
                self.local.close()


def _dashboard_available() -> bool:
    """Dask serves its dashboard only with bokeh installed."""
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def open_cluster(scheduler: Optional[str] = None, workers: Optional[int] = None) -> Cluster:
    """A client on ``scheduler``, or on a new LocalCluster of ``workers`` processes (default: one per
    core), one task thread each, the cores shared among them for inference ($PADM_THREADS)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise PansharpenError("dask.distributed is not installed: pip install 'dask[distributed]' (see "
                              "requirements.txt) to run batches.") from exc
    dashboard = ":0" if _dashboard_available() else None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise PansharpenError(f"Cannot reach the Dask scheduler at {scheduler} ({exc}): start it (dask "
                                  "scheduler) or check the address.") from None
        return Cluster(client, None, client.dashboard_link if dashboard else None)
    cores = os.cpu_count() or 1
    n = int(workers or cores)
    if n < 1:
        raise PansharpenError(f"--workers must be at least 1, got {n}.")
    threads = str(max(1, cores // n))
    env = {THREADS_ENV: threads, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads}
    local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard,
                         silence_logs=logging.ERROR, env=env)
    client = Client(local)
    return Cluster(client, local, client.dashboard_link if dashboard else None)
