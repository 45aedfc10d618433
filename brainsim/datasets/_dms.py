"""The delayed match-to-sample (DMS) working-memory task."""
from __future__ import annotations

from typing import Any, NamedTuple

import brainunit as u
import numpy as np

from .._checks import check_finite, check_positive, check_size, check_time

__all__ = ["DMS", "DMSTrials"]

PHASES = ("fixation", "sample", "delay", "test")


class DMSTrials(NamedTuple):
    """A batch of DMS trials (time first, as :func:`brainsim.for_loop` consumes it).

    Attributes
    ----------
    x : float32 array, shape (T, B, n_inputs)
        Input spikes (0/1) in ``'spiking'`` mode; spike probabilities per step in ``'rate'`` mode.
    labels : int32 array, shape (B,)
        1 for a match trial, 0 for a non-match trial.
    sample_dir, test_dir : int32 array, shape (B,)
        Indices of the sample and test directions, in ``[0, n_directions)``.
    """

    x: np.ndarray
    labels: np.ndarray
    sample_dir: np.ndarray
    test_dir: np.ndarray


DMSTrials.__module__ = "brainsim.datasets"


def _steps(name: str, value: Any, dt: Any) -> int:
    check_time("DMS", name, value, allow_zero=name == "t_fixation")
    n = float(value / dt)
    k = int(round(n))
    if abs(n - k) > 1e-6 * max(1., abs(n)):
        raise ValueError(f"DMS: {name}={value} is not a whole number of time steps of dt={dt} "
                         f"({n:g} steps). How to fix: give a multiple of dt.")
    return k


class DMS:
    r"""Generator of delayed match-to-sample trials (Freedman & Assad 2006; Masse et al. 2019).

    A trial has four phases: fixation (background input only), sample (a
    motion direction), delay (background only: the direction must be held in
    memory) and test (a second direction). The answer, read during the test
    phase, is *match* (label 1) when the test direction equals the sample
    direction rotated by ``rotation`` steps, otherwise *non-match* (label 0);
    each trial is a match with probability ``match_prob``, and a non-match
    test direction is drawn uniformly from the other directions.

    The directions are ``n_directions`` equally spaced angles
    :math:`\theta_d = 2\pi d / n_\mathrm{dir}`. The ``n_inputs`` input neurons have
    preferred angles :math:`\phi_i = 2\pi i / n_\mathrm{in}` and von Mises tuning
    normalised to a peak of 1,

    .. math:: f_i(\theta) = \exp\big(\kappa\,(\cos(\theta - \phi_i) - 1)\big),

    so during the sample and test phases neuron :math:`i` fires at
    :math:`r\, f_i(\theta) + r_\mathrm{bg}` and at :math:`r_\mathrm{bg}` otherwise.

    Parameters
    ----------
    dt : Quantity (time)
        Time step of the generated inputs.
    t_fixation, t_sample, t_delay, t_test : Quantity (time)
        Phase durations, whole numbers of ``dt``.
    n_inputs : int
        Number of direction-tuned input neurons.
    n_directions : int
        Number of motion directions (at least 2).
    kappa : float
        Concentration of the von Mises tuning (0: flat).
    rate : Quantity (frequency)
        Peak stimulus rate of an input neuron.
    bg_rate : Quantity (frequency)
        Background rate of every input neuron.
    mode : {'spiking', 'rate'}
        ``'spiking'``: Bernoulli spikes with probability ``rate * dt`` per step;
        ``'rate'``: that probability itself (the spiking mode's expectation).
    rotation : int
        The match rule: test direction = sample direction + ``rotation`` (mod ``n_directions``).
    match_prob : float
        Probability of a match trial.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim.datasets import DMS
    >>> task = DMS(dt=10. * u.ms, t_fixation=100. * u.ms, t_sample=200. * u.ms,
    ...            t_delay=300. * u.ms, t_test=200. * u.ms)
    >>> task.n_steps, task.phases["test"]
    (80, slice(60, 80, None))
    >>> trials = task.sample(16, seed=0)
    >>> trials.x.shape, trials.labels.shape
    ((80, 16, 24), (16,))
    >>> bool(((trials.sample_dir == trials.test_dir) == (trials.labels == 1)).all())
    True
    """

    __module__ = "brainsim.datasets"

    def __init__(self, dt: Any = 1. * u.ms, t_fixation: Any = 500. * u.ms,
                 t_sample: Any = 500. * u.ms, t_delay: Any = 1000. * u.ms,
                 t_test: Any = 500. * u.ms, n_inputs: int = 24, n_directions: int = 8,
                 kappa: float = 2., rate: Any = 40. * u.Hz, bg_rate: Any = 1. * u.Hz,
                 mode: str = "spiking", rotation: int = 0, match_prob: float = 0.5):
        self.dt = check_time("DMS", "dt", dt)
        durations = dict(t_fixation=t_fixation, t_sample=t_sample, t_delay=t_delay, t_test=t_test)
        steps = [_steps(k, v, dt) for k, v in durations.items()]
        bounds = np.cumsum([0] + steps)
        self.phases = {p: slice(int(a), int(b)) for p, a, b in zip(PHASES, bounds[:-1], bounds[1:])}
        self.n_steps = int(bounds[-1])
        self.n_inputs = check_size("DMS", "n_inputs", n_inputs)
        self.n_directions = check_size("DMS", "n_directions", n_directions)
        if self.n_inputs < 1 or self.n_directions < 2:
            raise ValueError(f"DMS: need n_inputs >= 1 and n_directions >= 2, got n_inputs="
                             f"{n_inputs}, n_directions={n_directions}. How to fix: e.g. "
                             "n_inputs=24, n_directions=8.")
        check_finite("DMS", kappa=kappa)
        self.kappa = float(check_positive("DMS", "kappa", kappa, allow_zero=True, example="2."))
        if mode not in ("spiking", "rate"):
            raise ValueError(f"DMS: mode must be 'spiking' or 'rate', got {mode!r}.")
        self.mode = mode
        p_stim, p_bg = (self._per_step(nm, v) for nm, v in (("rate", rate), ("bg_rate", bg_rate)))
        if p_stim + p_bg > 1.:
            raise ValueError(f"DMS: rate + bg_rate = {rate} + {bg_rate} gives a spike probability "
                             f"of {p_stim + p_bg:g} per step of dt={dt}, above 1. How to fix: a "
                             "smaller dt or lower rates.")
        self.rate, self.bg_rate, self._p_stim, self._p_bg = rate, bg_rate, p_stim, p_bg
        self.rotation = int(rotation)
        if not 0. <= float(match_prob) <= 1.:
            raise ValueError(f"DMS: match_prob must lie in [0, 1], got {match_prob!r}.")
        self.match_prob = float(match_prob)
        self.pref_dirs = 2 * np.pi * np.arange(self.n_inputs) / self.n_inputs
        self.stim_dirs = 2 * np.pi * np.arange(self.n_directions) / self.n_directions
        self.tuning = self.tuning_curve(self.stim_dirs)

    def _per_step(self, name: str, value: Any) -> float:
        ok = isinstance(value, u.Quantity) and value.unit.has_same_dim(u.Hz)
        if ok:
            p = float(u.maybe_decimal(value * self.dt))
            ok = np.isfinite(p) and p >= 0
        if not ok:
            raise ValueError(f"DMS: {name} must be a finite, non-negative frequency such as "
                             f"40. * u.Hz, got {value!r}.")
        return p

    @property
    def num_inputs(self) -> int:
        """Input size, ``n_inputs``."""
        return self.n_inputs

    @property
    def num_outputs(self) -> int:
        """Output size: 2 (non-match, match)."""
        return 2

    def tuning_curve(self, theta: Any) -> np.ndarray:
        """Von Mises tuning of the inputs to angle(s) ``theta`` (radians), peak 1.

        Returns an array of shape ``(*theta.shape, n_inputs)``.
        """
        theta = np.asarray(theta, np.float64)[..., None]
        return np.exp(self.kappa * (np.cos(theta - self.pref_dirs) - 1.))

    def probabilities(self, sample_dir: Any, test_dir: Any) -> np.ndarray:
        """Per-step spike probabilities of the inputs, shape ``(T, B, n_inputs)``.

        ``sample_dir`` and ``test_dir`` are direction indices of shape ``(B,)``.
        """
        sd, td = np.atleast_1d(sample_dir), np.atleast_1d(test_dir)
        p = np.full((self.n_steps, sd.shape[0], self.n_inputs), self._p_bg, np.float64)
        p[self.phases["sample"]] += self._p_stim * self.tuning[sd]
        p[self.phases["test"]] += self._p_stim * self.tuning[td]
        return p

    def sample(self, batch_size: int, seed: Any = None) -> DMSTrials:
        """Draw ``batch_size`` trials; ``seed`` is an int or a ``numpy.random.Generator``.

        Returns
        -------
        DMSTrials
            ``x`` of shape ``(T, B, n_inputs)`` (float32), labels, sample and test directions.
        """
        b = check_size("DMS", "batch_size", batch_size)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n = self.n_directions
        sample_dir = rng.integers(0, n, b)
        match = rng.random(b) < self.match_prob
        target = (sample_dir + self.rotation) % n
        # a non-match test direction: uniform over the n - 1 others
        other = (target + rng.integers(1, n, b)) % n
        test_dir = np.where(match, target, other)
        p = self.probabilities(sample_dir, test_dir)
        x = (rng.random(p.shape) < p) if self.mode == "spiking" else p
        return DMSTrials(x.astype(np.float32), match.astype(np.int32),
                         sample_dir.astype(np.int32), test_dir.astype(np.int32))

    def __repr__(self) -> str:
        ph = ", ".join(f"{k}={v.stop - v.start}" for k, v in self.phases.items())
        return (f"DMS(dt={self.dt}, steps: {ph}, n_inputs={self.n_inputs}, "
                f"n_directions={self.n_directions}, kappa={self.kappa}, mode={self.mode!r})")
