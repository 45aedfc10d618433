"""A render process for :class:`~brainsim.plot.LivePlot`: the run sends data, not pixels.

Drawing a frame with matplotlib and encoding it costs several milliseconds, more than ten
milliseconds of a 4,000-neuron network take to simulate. In a process of its own the
drawing runs on another core while the simulation goes on, so the run is not held up by
it; the file is complete once :meth:`RenderProcess.wait` returns (at the latest when its
LivePlot is garbage-collected or the interpreter exits, which stop the process after it has
drawn what it was sent).

The process runs this file as a script (``python _live_proc.py``), not through
``multiprocessing``: a spawned child would import the user's main script again, and this
way it loads neither the script nor brainsim (nor JAX), only numpy, matplotlib and
:mod:`._live_render`. Messages are length-prefixed on the child's stdin and stdout: a JSON
header and the raw bytes of numpy arrays (no pickle): ``start`` (the layout), ``frame``
(one chunk's arrays), ``finish`` (close the file; the child answers ``done`` or ``error``)
and ``stop``. This file imports nothing of brainsim either.
"""
from __future__ import annotations

import json
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import traceback
import weakref
from typing import Any

import numpy as np

__all__ = ["RenderProcess", "encode", "decode"]

_TIMEOUT_S = 600.          # the longest a wait for the render process may take


def encode(kind: str, meta: dict, arrays: list = ()) -> bytes:
    """One message: header length, JSON header (kind, meta, array dtypes and shapes), bytes."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    head = json.dumps({"kind": kind, "meta": meta,
                       "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}).encode()
    return b"".join([struct.pack("<I", len(head)), head] + [a.tobytes() for a in arrays])


def decode(msg: bytes) -> tuple[str, dict, list]:
    """The inverse of :func:`encode`."""
    (n,) = struct.unpack_from("<I", msg)
    head = json.loads(msg[4:4 + n])
    out, pos = [], 4 + n
    for dtype, shape in head["arrays"]:
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        out.append(np.frombuffer(msg, dt, count=count, offset=pos).reshape(shape))
        pos += count * dt.itemsize
    return head["kind"], head["meta"], out


def _write(f: Any, msg: bytes) -> None:
    f.write(struct.pack("<Q", len(msg)) + msg)
    f.flush()


def _read_exact(f: Any, n: int) -> bytes:
    parts, left = [], n
    while left:
        b = f.read(left)
        if not b:
            raise EOFError("LivePlot: the render pipe was closed")
        parts.append(b)
        left -= len(b)
    return b"".join(parts)


def _read(f: Any) -> bytes:
    (n,) = struct.unpack("<Q", _read_exact(f, 8))
    return _read_exact(f, n)


def _serve(inp: Any, out: Any) -> None:
    """The render process: draw each message's frame until ``stop`` or a closed pipe."""
    from _live_render import Renderer      # next to this file, on sys.path as a script

    renderer, failed = None, None
    while True:
        try:
            kind, meta, arrays = decode(_read(inp))
        except EOFError:
            return
        if kind == "stop":
            return
        try:
            if failed is None and kind == "start":
                renderer = Renderer(meta["layout"], meta["t0"], meta["t1"], meta["path"],
                                    tuple(meta["figsize"]), meta["dpi"], meta["fps"])
            elif failed is None and kind == "frame":
                renderer.update({k: (arrays[2 * j], arrays[2 * j + 1])
                                 for j, k in enumerate(meta["names"])})
            elif failed is None and kind == "finish":
                renderer.finish()
                _write(out, encode("done", {"frames": renderer.frames}))
        except Exception:        # reported to the run's process when it waits
            failed = traceback.format_exc()
        if failed is not None and kind == "finish":
            _write(out, encode("error", {"text": failed}))
            failed = None


class RenderProcess:
    """The client end: start the process once, send runs to it, wait for their files.

    Parameters
    ----------
    backend : str or None
        The matplotlib backend the process uses (the caller's, for a window).
    idle : bool
        Draw only on CPU time nothing else wants (Linux ``SCHED_IDLE``; elsewhere the
        lowest priority). For frames that go to a file, which nobody watches during the
        run: the simulation then keeps every core, and the file is finished from idle
        time, after the run at the latest. A window's frames are drawn at ``nice 10``,
        so that they keep up with the run when a core is free.
    """

    def __init__(self, backend: str | None = None, idle: bool = False):
        env = dict(os.environ)
        if backend is not None:
            env["MPLBACKEND"] = backend
        self._proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)]
                                      + (["--idle"] if idle else []),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env=env)
        self._pending = 0
        # A thread writes the pipe: when the drawing falls behind, the pipe fills and a
        # write blocks; it must block that thread, never the run.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._state = {"broken": False}
        self._writer = threading.Thread(target=_drain, args=(self._proc, self._queue,
                                                             self._state),
                                        daemon=True, name="brainsim-liveplot-send")
        self._writer.start()
        # Stop the process when its LivePlot is gone (or at exit): it finishes the files
        # already sent first, as it reads its messages in order.
        self._finalizer = weakref.finalize(self, _shutdown, self._proc, self._queue,
                                           self._writer)

    def send(self, kind: str, meta: dict, arrays: list = ()) -> None:
        """Queue one message; never waits for the drawing."""
        if self._state["broken"] or self._proc.poll() is not None:
            raise RuntimeError(f"LivePlot: the render process has stopped (exit code "
                               f"{self._proc.poll()}); its error is above.")
        self._queue.put(encode(kind, meta, list(arrays)))
        self._pending += kind == "finish"

    def wait(self) -> int | None:
        """Block until every finished run's file is written; the last run's frame count."""
        frames = None
        while self._pending:
            ready, _, _ = select.select([self._proc.stdout], [], [], _TIMEOUT_S)
            if not ready:
                self._proc.kill()
                raise RuntimeError(f"LivePlot: the render process answered nothing for "
                                   f"{_TIMEOUT_S:.0f} s; it was stopped.")
            try:
                kind, meta, _ = decode(_read(self._proc.stdout))
            except EOFError:
                self._pending = 0
                raise RuntimeError(f"LivePlot: the render process has stopped (exit code "
                                   f"{self._proc.wait()}); its error is above.") from None
            self._pending -= 1
            if kind == "error":
                raise RuntimeError("LivePlot: drawing failed in the render process:\n"
                                   + meta["text"])
            frames = meta["frames"]
        return frames

    def close(self) -> None:
        """Wait for the files, then stop the process."""
        if self._proc.poll() is not None:
            return
        try:
            self.wait()
        finally:
            self._finalizer()


def _drain(proc: Any, q: queue.SimpleQueue, state: dict) -> None:
    """The sending thread: write each queued message to the process until ``None``."""
    while True:
        msg = q.get()
        if msg is None:
            return
        try:
            _write(proc.stdin, msg)
        except (BrokenPipeError, OSError, ValueError):
            state["broken"] = True
            return


def _shutdown(proc: Any, q: queue.SimpleQueue, writer: threading.Thread) -> None:
    """Ask the process to stop after what it was sent, wait for it (bounded), close the pipes."""
    if proc.poll() is not None:
        q.put(None)
        writer.join(_TIMEOUT_S)
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass
        return
    q.put(encode("stop", {}))
    q.put(None)
    writer.join(_TIMEOUT_S)
    try:
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    try:
        proc.wait(_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


if __name__ == "__main__":
    # When the cores are busy, the simulation goes first; the frames catch up after it.
    idle = "--idle" in sys.argv[1:]
    try:
        if idle and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.nice(19 if idle else 10)
    except OSError:
        pass
    # replies go to the real stdout; anything printed by matplotlib goes to stderr
    _out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, _out)
