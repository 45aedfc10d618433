"""The search: candidates in parallel, a gradient step each round, the worst resampled."""
from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._bounds import EPS, Bounds, sample_unit_cube

__all__ = ["search", "candidate_sharding"]


def candidate_sharding(n_samples: int, devices: Any = None) -> tuple[int, Any, Any]:
    """``(n, sharding, replicated)``: the candidate count rounded up to a multiple of the
    device count, and the shardings of the candidate axis (``None`` on one device).

    ``devices`` defaults to all of ``jax.devices()``."""
    devices = list(jax.devices() if devices is None else devices)
    nd = len(devices)
    if nd == 1:
        return n_samples, None, None
    mesh = Mesh(np.array(devices), ("candidates",))
    n = -(-n_samples // nd) * nd
    return n, NamedSharding(mesh, PartitionSpec("candidates")), NamedSharding(mesh, PartitionSpec())


def search(where: str, loss: Callable[[dict], jax.Array], bounds: Bounds, n_samples: int,
           n_rounds: int, optimizer: Any, differentiable: bool, resample: float, init: str,
           seed: int, devices: Any = None) -> dict[str, Any]:
    """Minimise ``loss(params)`` (SI scalars by name -> error) over the box ``bounds``.

    Returns the best candidate's SI values, its error, the per-round history
    and every evaluated candidate with its error.
    """
    if not isinstance(n_rounds, (int, np.integer)) or n_rounds < 1:
        raise ValueError(f"{where}: n_rounds must be a positive int, got {n_rounds!r}.")
    if not 0. <= resample < 1.:
        raise ValueError(f"{where}: resample must be a fraction in [0, 1), got {resample!r}.")
    opt = optax.adam(0.1) if optimizer is None else optimizer
    if not (hasattr(opt, "init") and hasattr(opt, "update")):
        raise TypeError(f"{where}: optimizer must be an optax GradientTransformation such as "
                        f"optax.adam(0.1), got {optimizer!r}.")
    S, shard, _ = candidate_sharding(n_samples, devices)
    P = len(bounds.names)
    rng = np.random.default_rng(seed)

    def loss_z(z: jax.Array) -> jax.Array:
        return loss(bounds.to_params(z))

    @jax.jit
    def step(z: jax.Array, state: Any) -> tuple[jax.Array, jax.Array, Any]:
        err, g = jax.vmap(jax.value_and_grad(loss_z))(z)
        g = jnp.where(jnp.isfinite(g), g, 0.)
        upd, state = jax.vmap(opt.update)(g, state, z)
        return err, optax.apply_updates(z, upd), state

    evaluate = jax.jit(jax.vmap(loss_z))
    fresh = jax.jit(jax.vmap(opt.init))

    def put(z: np.ndarray) -> jax.Array:
        z = np.asarray(z, np.float32)
        return jax.device_put(z, shard) if shard is not None else jnp.asarray(z)

    z = put(bounds.from_unit(sample_unit_cube(rng, S, P, init)))
    state = fresh(z)
    n_elite = max(1, S // 8)
    n_bad = int(resample * S)
    all_z, all_err, history = [], [], []
    best_err, best_z = np.inf, None
    t0 = time.perf_counter()
    for r in range(n_rounds + 1):
        last = r == n_rounds
        if differentiable:
            err, z_next, state_next = step(z, state)
            if last:   # the step's errors are those of z; its update is not taken
                z_next, state_next = z, state
        else:
            err, z_next, state_next = evaluate(z), z, state
        n_used = len(err.sharding.device_set)
        err = np.asarray(err, np.float64)
        err = np.where(np.isfinite(err), err, np.inf)
        zh = np.asarray(z, np.float64)
        all_z.append(zh)
        all_err.append(err)
        k = int(np.argmin(err))
        if err[k] < best_err:
            best_err, best_z = float(err[k]), zh[k].copy()
        history.append({"round": r, "error": best_err, "round_error": float(err[k]),
                        "params": bounds.si(best_z), "time": time.perf_counter() - t0})
        if last:
            break
        if n_bad:
            # the worst candidates restart near the best ones, closer as the rounds go by
            order = np.argsort(err, kind="stable")
            frac = r / max(n_rounds - 1, 1)
            sigma = 0.15 * (0.01 / 0.15) ** frac
            elite = 1. / (1. + np.exp(-zh[order[:n_elite]]))
            picks = rng.integers(n_elite, size=n_bad)
            x_new = np.clip(elite[picks] + sigma * rng.normal(size=(n_bad, P)), EPS, 1. - EPS)
            bad = order[S - n_bad:]
            zn = np.asarray(z_next, np.float64).copy()
            zn[bad] = bounds.from_unit(x_new)
            mask = np.zeros(S, bool)
            mask[bad] = True
            z_next = put(zn)
            new_state = fresh(z_next)
            m = jnp.asarray(mask)
            state_next = jax.tree_util.tree_map(
                lambda a, b: jnp.where(m.reshape((-1,) + (1,) * (jnp.ndim(a) - 1)), b, a),
                state_next, new_state)
        z, state = z_next, state_next
    return {"best": bounds.si(best_z), "error": best_err, "history": history,
            "all": bounds.si(np.concatenate(all_z)), "all_error": np.concatenate(all_err),
            "n_samples": S, "devices": n_used}
