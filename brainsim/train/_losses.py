"""Readouts over time, classification losses, accuracy and spike-count regularisers."""

from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "spike_count", "max_over_time", "mean_over_time",
    "cross_entropy", "spike_count_cross_entropy", "max_membrane_cross_entropy",
    "mean_membrane_cross_entropy", "accuracy",
    "l1_spike_total", "l2_spikes_per_neuron",
]


def _plain(x: Any, name: str) -> jax.Array:
    if isinstance(x, u.Quantity):
        # a membrane in mV used as logits: the loss needs a pure number
        x = x.mantissa
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _time_series(x: Any, name: str, time_axis: int) -> jax.Array:
    x = _plain(x, name)
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have a time axis and a class axis, e.g. shape (T, B, C); got shape "
            f"{tuple(x.shape)}. How to fix: stack the per-step outputs with brainsim.for_loop."
        )
    return jnp.moveaxis(x, time_axis, 0)


def spike_count(spikes: Any, time_axis: int = 0) -> jax.Array:
    r"""Spikes per neuron summed over time, :math:`n_c = \sum_t s_{t,c}`.

    Parameters
    ----------
    spikes : array, shape (T, B, C) (time on ``time_axis``)

    Returns
    -------
    array, shape (B, C)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import spike_count
    >>> spike_count(jnp.array([[[1., 0.]], [[1., 1.]]])).tolist()
    [[2.0, 1.0]]
    """
    return jnp.sum(_time_series(spikes, "spikes", time_axis), axis=0)


def max_over_time(v: Any, time_axis: int = 0) -> jax.Array:
    r"""The maximum of a membrane readout over time, :math:`z_c = \max_t V_{t,c}`.

    Parameters
    ----------
    v : array or Quantity, shape (T, B, C) (time on ``time_axis``)
        Quantities are read by their mantissa.

    Returns
    -------
    array, shape (B, C)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import max_over_time
    >>> max_over_time(jnp.array([[[1., 3.]], [[2., 0.]]])).tolist()
    [[2.0, 3.0]]
    """
    return jnp.max(_time_series(v, "v", time_axis), axis=0)


def mean_over_time(v: Any, time_axis: int = 0) -> jax.Array:
    r"""The mean of a membrane readout over time, :math:`z_c = \frac{1}{T}\sum_t V_{t,c}`.

    Parameters
    ----------
    v : array or Quantity, shape (T, B, C) (time on ``time_axis``)

    Returns
    -------
    array, shape (B, C)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import mean_over_time
    >>> mean_over_time(jnp.array([[[1., 3.]], [[2., 0.]]])).tolist()
    [[1.5, 1.5]]
    """
    return jnp.mean(_time_series(v, "v", time_axis), axis=0)


def _labels(labels: Any, logits: jax.Array) -> jax.Array:
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"labels must be integer class indices, got dtype {labels.dtype}. How to fix: "
            "pass labels.astype(int) (not one-hot vectors)."
        )
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"labels have shape {tuple(labels.shape)} but the logits have shape "
            f"{tuple(logits.shape)}; expected labels of shape {tuple(logits.shape[:-1])} "
            "(one class index per sample)."
        )
    if not isinstance(labels, jax.core.Tracer):
        # checked on the host: jnp comparisons would be staged when called inside a trace
        n = logits.shape[-1]
        host = np.asarray(labels)
        bad = (host < 0) | (host >= n)
        if bad.any():
            raise ValueError(
                f"labels must lie in [0, {n}) for {n} classes; got values "
                f"{host[bad][:5].tolist()}."
            )
    return labels


def cross_entropy(logits: Any, labels: Any) -> jax.Array:
    r"""Mean softmax cross-entropy of integer labels.

    .. math:: L = -\frac{1}{B}\sum_b \Big(z_{b,y_b} - \log\sum_c e^{z_{b,c}}\Big)

    Parameters
    ----------
    logits : array, shape (B, C)
    labels : int array, shape (B,)

    Returns
    -------
    scalar array

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import cross_entropy
    >>> round(float(cross_entropy(jnp.zeros((1, 4)), jnp.array([2]))), 4)  # log 4
    1.3863
    """
    logits = _plain(logits, "logits")
    if logits.ndim < 1:
        raise ValueError("logits must have a class axis, e.g. shape (B, C); got a scalar.")
    labels = _labels(labels, logits)
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    return -jnp.mean(picked)


def spike_count_cross_entropy(spikes: Any, labels: Any, time_axis: int = 0) -> jax.Array:
    """Cross-entropy with the spike counts over time as logits.

    Parameters
    ----------
    spikes : array, shape (T, B, C)
    labels : int array, shape (B,)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import spike_count_cross_entropy
    >>> round(float(spike_count_cross_entropy(jnp.zeros((5, 1, 2)), jnp.array([0]))), 4)
    0.6931
    """
    return cross_entropy(spike_count(spikes, time_axis), labels)


def max_membrane_cross_entropy(v: Any, labels: Any, time_axis: int = 0) -> jax.Array:
    """Cross-entropy with the maximum membrane potential over time as logits.

    Parameters
    ----------
    v : array or Quantity, shape (T, B, C)
    labels : int array, shape (B,)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import max_membrane_cross_entropy
    >>> round(float(max_membrane_cross_entropy(jnp.zeros((5, 1, 2)), jnp.array([1]))), 4)
    0.6931
    """
    return cross_entropy(max_over_time(v, time_axis), labels)


def mean_membrane_cross_entropy(v: Any, labels: Any, time_axis: int = 0) -> jax.Array:
    """Cross-entropy with the mean membrane potential over time as logits.

    Parameters
    ----------
    v : array or Quantity, shape (T, B, C)
    labels : int array, shape (B,)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import mean_membrane_cross_entropy
    >>> round(float(mean_membrane_cross_entropy(jnp.zeros((5, 1, 2)), jnp.array([1]))), 4)
    0.6931
    """
    return cross_entropy(mean_over_time(v, time_axis), labels)


def accuracy(logits: Any, labels: Any) -> jax.Array:
    """Fraction of samples whose largest logit is the label (ties: the first index wins).

    Parameters
    ----------
    logits : array, shape (B, C)
    labels : int array, shape (B,)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import accuracy
    >>> float(accuracy(jnp.array([[0., 1.], [2., 1.]]), jnp.array([1, 1])))
    0.5
    """
    logits = _plain(logits, "logits")
    labels = _labels(labels, logits)
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(logits.dtype))


def l1_spike_total(spikes: Any) -> jax.Array:
    r"""L1 spike regulariser: the total number of spikes, :math:`\sum_{t,b,i} s_{t,b,i}`.

    Multiply by a small strength (e.g. ``1e-5``) and add to the loss.

    Parameters
    ----------
    spikes : array, shape (T, B, N) (any shape: everything is summed)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import l1_spike_total
    >>> float(l1_spike_total(jnp.ones((3, 2, 4))))
    24.0
    """
    return jnp.sum(_plain(spikes, "spikes"))


def l2_spikes_per_neuron(spikes: Any) -> jax.Array:
    r"""L2 spike regulariser: the mean over neurons of the squared spike count per neuron.

    .. math:: R = \frac{1}{N}\sum_i \Big(\sum_{t,b} s_{t,b,i}\Big)^2

    counting over time and batch (the first two axes), as in Zenke's SpyTorch
    tutorials, so it penalises neurons that fire much more than the others.

    Parameters
    ----------
    spikes : array, shape (T, B, N...)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import l2_spikes_per_neuron
    >>> s = jnp.zeros((2, 1, 2)).at[:, 0, 0].set(1.)   # neuron 0 fires twice, neuron 1 never
    >>> float(l2_spikes_per_neuron(s))
    2.0
    """
    s = _plain(spikes, "spikes")
    if s.ndim < 3:
        raise ValueError(
            f"spikes must have shape (T, B, N...) for the per-neuron count; got shape "
            f"{tuple(s.shape)}. How to fix: add the batch axis, e.g. spikes[:, None]."
        )
    per_neuron = jnp.sum(s, axis=(0, 1))
    return jnp.mean(per_neuron ** 2)
