"""Toy studies give identical results inline, in any batch size, on threads, processes, Dask."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import model_core as mc
from model_core.examples import load_example

STUDY = dict(parameters=["mu"], n_toys=90, rng=13)
GRID = dict(xs=np.linspace(0.0, 2.5, 3), ys=np.linspace(0.8, 1.2, 2), n_toys=40, rng=14)


@pytest.fixture(scope="module")
def two_bin() -> mc.Model:
    return mc.build_model(load_example("two_bin_uncorrelated"))


@pytest.fixture(scope="module")
def one_bin() -> mc.Model:
    return mc.build_model(load_example("pyhf_one_bin"))


@pytest.fixture(scope="module")
def inline(two_bin, one_bin) -> tuple[mc.CoverageStudy, mc.CalibratedGrid]:
    return (mc.coverage_study(two_bin, **STUDY),
            mc.calibrated_grid(one_bin, ("mu", "uncorr_bkguncrt[0]"), **GRID))


def _same(inline, two_bin, one_bin, **extra) -> None:
    study = mc.coverage_study(two_bin, **STUDY, **extra)
    np.testing.assert_array_equal(study.q, inline[0].q)
    grid = mc.calibrated_grid(one_bin, ("mu", "uncorr_bkguncrt[0]"), **GRID, **extra)
    np.testing.assert_array_equal(grid.p_value, inline[1].p_value)
    np.testing.assert_array_equal(grid.thresholds, inline[1].thresholds)


@pytest.mark.parametrize("batch_size", [6, 64])
def test_batch_size_does_not_matter(inline, two_bin, one_bin, batch_size):
    _same(inline, two_bin, one_bin, batch_size=batch_size)


def test_thread_pool(inline, two_bin, one_bin):
    with ThreadPoolExecutor(max_workers=2) as pool:
        _same(inline, two_bin, one_bin, executor=pool, batch_size=25)


def test_process_pool(inline, two_bin, one_bin):
    with ProcessPoolExecutor(max_workers=2) as pool:
        _same(inline, two_bin, one_bin, executor=pool, batch_size=25)


@pytest.mark.slow
def test_dask_local_cluster(inline, two_bin, one_bin):
    distributed = pytest.importorskip("distributed")
    # dashboard_address=None still binds port 8787 for the scheduler's HTTP server, and
    # the warning when another cluster holds it is an error here: take any free port
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        _same(inline, two_bin, one_bin, executor=client, batch_size=25)


def test_another_seed_gives_other_toys(inline, two_bin):
    other = mc.coverage_study(two_bin, **{**STUDY, "rng": 14})
    assert not np.array_equal(other.q, inline[0].q)
    assert inline[0].seed_entropy == 13
