"""Recording spikes inside ``lax.scan``: packed bits vs compacted indices, and the host decode.

    PYTHONPATH=. python benchmarks/spike_recording.py [--repeats 7] [--steps 10000] [--json]

In-loop cost (CPU time per step, 4000 neurons, ~6 spiking 32-bit words a step, 10^4 steps) of:
nothing; packing the spikes to bytes as bit planes (what ``SpikeMonitor`` does); packing
neighbours into a byte with a matmul against the bit weights (what it did before Dec 3 2026);
appending the nonzero 32-bit words to one flat event buffer with a running count (prefix count +
scatter, the event-driven design). Then the host decode of a packed 1 s record at ~20 Hz:
byte by byte (``np.nonzero`` of the bytes, as the decode before Dec 3 2026 did, then sorted) and
64-bit word by word (``SpikeMonitor.finish``). Both decodes give the raster's events (checked).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from brainsim.event._active import prefix_count  # noqa: E402
from brainsim.runner._monitors import _planes  # noqa: E402

N = 4000
W32 = -(-N // 32)


def packed(carry, s):
    return carry, _planes(s[None])[0]


def neighbours(carry, s):
    x = jnp.pad(s, (0, (-N) % 64)).reshape(-1, 8).astype(jnp.float32)
    return carry, (x @ (2. ** jnp.arange(8, dtype=jnp.float32))).astype(jnp.uint8)


def events(carry, s):
    buf, count = carry
    x = jnp.pad(s, (0, W32 * 32 - N)).reshape(W32, 2, 16).astype(jnp.float32)
    half = (x @ (2. ** jnp.arange(16, dtype=jnp.float32))).astype(jnp.uint32)
    word = half[:, 0] | (half[:, 1] << 16)
    nz = word != 0
    pos = count + prefix_count(nz) - 1
    rows = jnp.stack([jnp.arange(W32, dtype=jnp.int32),
                      jax.lax.bitcast_convert_type(word, jnp.int32)], 1)
    buf = buf.at[jnp.where(nz, pos, buf.shape[0])].set(rows, mode="drop")
    k = pos[-1] + 1 - count
    return (buf, count + k), k


def nothing(carry, s):
    return carry, None


def _loop(step, init, T):
    @jax.jit
    def f(v):
        def body(c, _):
            rec, v = c
            v = v * 0.999 + 0.0021          # a cheap neuron: fires when v crosses 1
            s = v > 1.
            rec, y = step(rec, s)
            return (rec, jnp.where(s, 0., v)), y
        return jax.lax.scan(body, (init, v), None, length=T)
    return f


def _decode_bytes(data):
    """Byte by byte: bit b of byte j of a row is neuron b * M + j (bit planes), sorted."""
    rows, cols = np.nonzero(data)
    bits = np.unpackbits(data[rows, cols][:, None], axis=1, bitorder="little")
    k, bit = np.nonzero(bits)
    steps, idx = rows[k], bit * data.shape[1] + cols[k]
    order = np.lexsort((idx, steps))
    return steps[order], idx[order]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=10000, help="steps of the loop and the record")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    T = a.steps
    v0 = jnp.asarray(np.random.default_rng(0).random(N), jnp.float32)
    cap = 40 * T
    loops = {"none": _loop(nothing, 0, T), "packed": _loop(packed, 0, T),
             "neighbours": _loop(neighbours, 0, T),
             "events": _loop(events, (jnp.zeros((cap, 2), jnp.int32), jnp.zeros((), jnp.int32)), T)}
    for f in loops.values():
        jax.block_until_ready(f(v0))
    cpu = {k: [] for k in loops}
    for _ in range(a.repeats):
        for k, f in loops.items():
            c0 = time.process_time()
            jax.block_until_ready(f(v0))
            cpu[k].append(time.process_time() - c0)
    loop_us = {k: 1e6 * float(np.median(v)) / T for k, v in cpu.items()}
    (_, count), _ = loops["events"](v0)[0]
    assert int(count) <= cap
    # the host decode of a 1 s record of 4000 neurons at 20 Hz, same events both ways
    from brainsim.runner import SpikeMonitor
    raster = np.random.default_rng(1).random((T, N)) < 20. * 1e-4
    data = np.asarray(_planes(jnp.asarray(raster)))     # each row as SpikeMonitor records a step
    mon = SpikeMonitor(lambda: jnp.zeros(N))
    mon._n = N
    t = np.arange(T) * 0.1 * u.ms
    dec = {"bytes": [], "words": []}
    for _ in range(a.repeats):
        c0 = time.process_time()
        s0, i0 = _decode_bytes(data)
        dec["bytes"].append(time.process_time() - c0)
        c0 = time.process_time()
        rec = mon.finish(data, t, 0.1 * u.ms)
        dec["words"].append(time.process_time() - c0)
    ref_steps, ref_i = np.nonzero(raster)        # both decodes against the raster itself
    assert np.array_equal(rec.steps, ref_steps) and np.array_equal(rec.i, ref_i)
    assert np.array_equal(s0, ref_steps) and np.array_equal(i0, ref_i)
    decode_ms = {k: 1e3 * float(np.median(v)) for k, v in dec.items()}
    print(f"in the loop ({N} neurons, {int(count) / T:.1f} spike words a step), CPU us per step:")
    for k, v in loop_us.items():
        print(f"  {k:11s}{v:8.2f}")
    print(f"host decode of a {T} x {N} record with {rec.count} spikes, CPU ms:")
    for k, v in decode_ms.items():
        print(f"  {k:8s}{v:8.2f}")
    if a.json:
        print(json.dumps(dict(loop_us_per_step=loop_us, decode_ms=decode_ms,
                              spike_words_per_step=int(count) / T, spikes=int(rec.count))))


if __name__ == "__main__":
    main()
