"""The same rng gives the same points inline, on threads, on processes and on a Dask cluster."""

from __future__ import annotations

from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import model_core as mc
from model_core.contour.dispatch import as_executor

SETTINGS = dict(fixed={"mu": 1.0}, bounds={"c0": (-50, 1)}, rng=21, n_radial=120, n_chains=9,
                n_steps=40, n_gap_candidates=120, spacing=0.04, batch_size=4, max_fill_rounds=3)


@pytest.fixture(scope="module")
def inline(three_shapes):
    result = mc.find_contour(three_shapes, **SETTINGS)
    assert result.status == "complete" and len(result.contour_points) > 100
    return result


def _same(a: mc.ContourResult, b: mc.ContourResult) -> None:
    assert np.array_equal(a.contour_points, b.contour_points)
    assert np.array_equal(a.residuals, b.residuals)
    assert np.array_equal(a.on_bound, b.on_bound)
    assert a.n_evaluations == b.n_evaluations


def test_thread_pool(three_shapes, inline):
    with ThreadPoolExecutor(max_workers=2) as pool:
        _same(inline, mc.find_contour(three_shapes, executor=pool, **SETTINGS))


def test_process_pool(three_shapes, inline):
    with ProcessPoolExecutor(max_workers=2) as pool:
        _same(inline, mc.find_contour(three_shapes, executor=pool, **SETTINGS))


@pytest.mark.slow
def test_dask_local_cluster(three_shapes, inline):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        assert isinstance(as_executor(client), Executor)  # the client's get_executor()
        _same(inline, mc.find_contour(three_shapes, executor=client, **SETTINGS))


def test_executor_must_be_an_executor(three_shapes):
    with pytest.raises(TypeError, match="concurrent.futures.Executor or a Dask client"):
        mc.find_contour(three_shapes, executor=object(), **SETTINGS)


def _fill_batches(model, **extra) -> tuple[mc.ContourResult, int]:
    """A run, and the number of hole-filling batches."""
    stages: list[str] = []
    result = mc.find_contour(model, on_batch=lambda b: stages.append(b.stage), **SETTINGS,
                             **extra)
    return result, stages.count("fill")


def test_hole_filling_streams_in_parts_without_changing_the_points(three_shapes, inline,
                                                                   monkeypatch):
    _, whole = _fill_batches(three_shapes)
    monkeypatch.setattr("model_core.contour.fill._MOVES_PER_PART", 8)
    parted, parts = _fill_batches(three_shapes)
    _same(inline, parted)
    assert parts > 3 * whole  # a round of more than 8 moves arrives in several batches

    # a stop asked for during the filling ends the run at the next part
    seen: list[str] = []

    def stop() -> bool:
        return seen[-1] == "fill"

    cancelled = mc.find_contour(three_shapes, should_stop=stop,
                                on_batch=lambda b: seen.append(b.stage), **SETTINGS)
    assert cancelled.status == "cancelled" and cancelled.stage == "fill"
    assert seen.count("fill") == 1 and seen[-1] == "done"
    assert 0 < len(cancelled.contour_points) < len(inline.contour_points)
