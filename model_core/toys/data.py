"""Pseudo-data: :func:`sample_toys` and the random streams behind every toy study.

A toy is a full replica of the measurement (DESIGN.md section 9): the main
measurement **and** the auxiliary measurements of every constraint, drawn at
one parameter point by the model's likelihood (see
:meth:`~model_core.models.counting.CountingNLL.sample` and
:meth:`~model_core.models.histfactory_nll.HistFactoryNLL.sample`).

Toys are drawn in blocks of :data:`TOY_BLOCK`, block ``b`` from the ``b``-th
generator spawned from the study's ``rng``, so toy ``i`` is the same however
the toys are later batched or dispatched, and the first ``n`` toys of a larger
study are those of a study of ``n`` toys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..exceptions import FitFailed
from ..fit import fit
from ..model import Dataset, Model
from ..params import resolve_fixed
from ..random import RngLike, as_generator

__all__ = ["TOY_BLOCK", "ToyData", "ToyStream", "resolve_point", "sample_toys", "seed_entropy"]

#: Toys drawn from one spawned generator: small enough that a study of a few
#: toys draws little more than it needs, large enough to draw vectorised.
TOY_BLOCK = 256
#: How unbinned channels are treated when drawing toys.
UNBINNED_MODES = ("refuse", "resample")


@dataclass(frozen=True, slots=True, eq=False)
class ToyData(Dataset):
    """Pseudo-datasets drawn at one parameter point (:func:`sample_toys`).

    Attributes
    ----------
    main, aux, events
        As in :class:`~model_core.model.Dataset`, one row per toy.
    at : ndarray (npar,)
        The parameter point the toys were drawn at.
    parameter_names : tuple of str
        The model's parameters.
    aux_parameters : tuple of str
        The parameter each column of ``aux`` measures.
    seed_entropy : int or None
        Entropy of the root seed (reproduces the toys with ``rng=seed_entropy``).
    """

    at: np.ndarray | None = None
    parameter_names: tuple[str, ...] = ()
    aux_parameters: tuple[str, ...] = ()
    seed_entropy: int | None = None

    @property
    def n_toys(self) -> int:
        return len(self.main)


def seed_entropy(rng: np.random.Generator) -> int | None:
    """The entropy of ``rng``'s seed sequence (``None`` when it has none)."""
    seq = getattr(rng.bit_generator, "seed_seq", None)
    entropy = getattr(seq, "entropy", None)
    return int(entropy) if isinstance(entropy, (int, np.integer)) else None


class ToyStream:
    """Toys ``[start, stop)`` drawn at ``x``, block by block, from spawned generators.

    Blocks are drawn in order and only once; asking for toys before the last
    block drawn is an error (streams move forward).
    """

    def __init__(self, model: Model, x: np.ndarray, rng: np.random.Generator, *,
                 unbinned: str = "refuse") -> None:
        if unbinned not in UNBINNED_MODES:
            raise ValueError(f"unbinned must be one of {UNBINNED_MODES}, got {unbinned!r}")
        self.model = model
        self.x = np.asarray(x, dtype=float)
        self.rng = rng
        self.unbinned = unbinned
        self._blocks: dict[int, Dataset] = {}
        self._spawned = 0
        sample = getattr(model.likelihood, "sample", None)
        if sample is None:
            raise TypeError(f"{model!r} cannot draw pseudo-data")
        self._sample = sample
        # fail now (an unbinned channel, a negative rate), not in the first batch: drawing
        # no toy runs every check and consumes no randomness
        self._call(self.x, 0, rng)

    def _call(self, x: np.ndarray, n: int, rng: np.random.Generator) -> Dataset:
        if self.unbinned == "resample":
            return self._sample(x, n, rng, unbinned="resample")
        return self._sample(x, n, rng)

    def _block(self, b: int) -> Dataset:
        if b not in self._blocks:
            if b < self._spawned:
                raise ValueError("toy blocks are drawn in order; this one was released")
            while self._spawned <= b:
                generator = self.rng.spawn(1)[0]
                self._spawned += 1
            self._blocks = {b: self._call(self.x, TOY_BLOCK, generator)}
        return self._blocks[b]

    def get(self, start: int, stop: int) -> Dataset:
        """Toys ``start`` to ``stop - 1``."""
        parts = []
        for b in range(start // TOY_BLOCK, (stop - 1) // TOY_BLOCK + 1):
            block = self._block(b)
            lo, hi = max(start - b * TOY_BLOCK, 0), min(stop - b * TOY_BLOCK, TOY_BLOCK)
            parts.append(block.take(slice(lo, hi)))
        events = None if parts[0].events is None else np.concatenate([p.events for p in parts])
        return Dataset(np.concatenate([p.main for p in parts]),
                       np.concatenate([p.aux for p in parts]), events)


def resolve_point(model: Model, at: Mapping[str, float] | Sequence[float] | np.ndarray | None,
                  fixed: Mapping[int, float] | None = None, *,
                  best: np.ndarray | None = None) -> np.ndarray:
    """The full parameter vector a study draws its toys at.

    ``at`` may be a full vector; a mapping sets some parameters and the others
    take their best-fit values to the observed data with those held (the
    profile construction); ``None`` is the best fit (``best``, when given).
    Fixed parameters (index to value) keep their values.

    Raises
    ------
    ValueError
        For a vector of the wrong length, a non-finite value, or a value that
        contradicts a fixed one.
    FitFailed
        When the fit needed to complete the point fails.
    """
    fixed = dict(fixed or {})
    names = model.parameter_names
    if at is not None and not isinstance(at, Mapping):
        x = np.array(at, dtype=float)
        if x.shape != (model.npar,):
            raise ValueError(f"at must have {model.npar} values ({', '.join(names)}) or be a "
                             f"mapping from names to values, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"at must be finite, got {x.tolist()}")
        for i, v in fixed.items():
            if x[i] != v:
                raise ValueError(f"at gives {names[i]} = {x[i]:g} but it is fixed at {v:g}: "
                                 "give the fixed value, or unfix it")
        return x
    held = dict(fixed)
    for name, value in (at or {}).items():
        i = model.index(name)
        v = float(value)
        if not np.isfinite(v):
            raise ValueError(f"at: {name} must be finite, got {value!r}")
        if i in fixed and fixed[i] != v:
            raise ValueError(f"at gives {name} = {v:g} but it is fixed at {fixed[i]:g}: drop it "
                             "from at, or unfix it")
        held[i] = v
    if not at and best is not None:
        return np.array(best, dtype=float)
    result = fit(model, fixed={names[i]: v for i, v in held.items()})
    if not result.success:
        raise FitFailed(result)
    return result.x


def sample_toys(model: Model, at: Mapping[str, float] | Sequence[float] | np.ndarray | None,
                n_toys: int, rng: RngLike = None, *, unbinned: str = "refuse") -> ToyData:
    """Draw ``n_toys`` pseudo-datasets at the parameter point ``at``.

    Parameters
    ----------
    model
        A counting model or a HistFactory workspace.
    at
        Full parameter vector, or a mapping of some parameters (the others
        take their best-fit values with those held), or ``None`` for the best fit.
    n_toys
        Number of toys.
    rng
        Seed or generator; the same ``rng`` gives the same toys.
    unbinned
        ``"refuse"`` (default) raises for unbinned channels, naming the channel;
        ``"resample"`` draws each toy's events from the channel's own events
        weighted by the model's density ratio (exact only when those events are
        a sample of the reference density).

    Returns
    -------
    ToyData
        Main measurements, auxiliary measurements (the constraints' centres)
        and, for unbinned channels, the events' multiplicities.

    Examples
    --------
    >>> import model_core as mc
    >>> from model_core.examples import load_example
    >>> model = mc.build_model(load_example("two_bin_uncorrelated"))
    >>> toys = mc.sample_toys(model, {"mu": 1.0, "theta_0": 0.0, "theta_1": 0.0}, 3, rng=1)
    >>> toys.main.shape, toys.aux.shape, toys.aux_parameters
    ((3, 2), (3, 2), ('theta_0', 'theta_1'))
    """
    if isinstance(n_toys, bool) or not isinstance(n_toys, (int, np.integer)) or n_toys < 1:
        raise ValueError(f"n_toys must be a positive integer, got {n_toys!r}")
    x = resolve_point(model, at, resolve_fixed(model, None) if at is None else None)
    root = as_generator(rng)
    data = ToyStream(model, x, root, unbinned=unbinned).get(0, int(n_toys))
    aux_index = model.likelihood.aux_parameters
    return ToyData(data.main, data.aux, data.events, at=x,
                   parameter_names=model.parameter_names,
                   aux_parameters=tuple(model.parameter_names[i] for i in aux_index),
                   seed_entropy=seed_entropy(root))
