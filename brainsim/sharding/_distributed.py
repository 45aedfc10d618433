"""Several processes, one mesh: ``jax.distributed`` with bounded waits, and a local launcher.

Every wait here is bounded: joining the coordinator (``timeout``), the heartbeats, the shutdown,
and the launcher's wait for its processes. A process that cannot join fails with a message
instead of hanging.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Sequence

import jax

__all__ = ["initialize", "launch_local", "free_port"]


def _check_count(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    return value


def initialize(coordinator: str, num_processes: int, process_id: int, *,
               timeout: float = 60.) -> None:
    """Join ``num_processes`` processes through :func:`jax.distributed.initialize`.

    On a CPU the collectives between processes run over gloo. Call it before any JAX
    computation (importing brainsim starts none); afterwards :func:`jax.devices` lists the
    devices of every process, and :func:`make_mesh` spans them.

    Parameters
    ----------
    coordinator : str
        ``'host:port'`` of process 0, e.g. ``'127.0.0.1:12355'``.
    num_processes : int
        How many processes take part.
    process_id : int
        This process's rank, ``0 <= process_id < num_processes``.
    timeout : float
        Seconds to wait for all processes to join (and for heartbeats and shutdown).

    Raises
    ------
    ValueError
        For a ``process_id`` outside ``[0, num_processes)``.
    RuntimeError
        When joining fails, or the coordinator runs another number of processes than
        ``num_processes``.

    Notes
    -----
    When not all processes join within ``timeout`` seconds, the process writes a message
    naming the coordinator and the process count to stderr and exits with status 1: XLA's
    coordination client would otherwise end it with a fatal error, which Python cannot catch.
    """
    _check_count("initialize: num_processes", num_processes, 1)
    _check_count("initialize: process_id", process_id, 0)
    if process_id >= num_processes:
        raise ValueError(f"initialize: process_id={process_id} must be below "
                         f"num_processes={num_processes} (ranks are 0..{num_processes - 1}).")
    if not isinstance(coordinator, str) or ":" not in coordinator:
        raise ValueError(f"initialize: coordinator must be 'host:port', got {coordinator!r}.")
    wait = max(1, int(round(timeout)))
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    hint = (f"Start all {num_processes} processes with the same coordinator and "
            f"num_processes, and ranks 0..{num_processes - 1}.")

    def give_up() -> None:
        # XLA's coordination client ends the process by a fatal error when its deadline
        # passes; say what happened first, and exit on our terms just before that.
        sys.stderr.write(
            f"brainsim.sharding.initialize: process {process_id} of {num_processes}: not all "
            f"processes joined the coordinator at {coordinator} within {wait} s; stopping. "
            f"{hint}\n")
        sys.stderr.flush()
        os._exit(1)

    watchdog = threading.Timer(wait, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id,
                                   initialization_timeout=wait + 10,
                                   heartbeat_timeout_seconds=max(10, wait),
                                   shutdown_timeout_seconds=max(5, wait // 2))
    except Exception as err:   # the coordination service raises XlaRuntimeError and others
        raise RuntimeError(
            f"initialize: process {process_id} of {num_processes} could not join the "
            f"coordinator at {coordinator} within {wait} s ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). {hint}") from None
    finally:
        watchdog.cancel()
    if jax.process_count() != num_processes:
        found = jax.process_count()
        raise RuntimeError(
            f"initialize: this process was started for num_processes={num_processes}, but the "
            f"coordinator at {coordinator} runs {found} processes. Start every process with "
            f"num_processes={found}, or restart the coordinator with {num_processes}.")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_local(script: str, argv: Sequence[str], num_processes: int, *,
                 timeout: float = 120., devices_per_process: int | None = None) -> int:
    """Run ``script argv`` in ``num_processes`` local processes joined through loopback.

    Each process gets ``--coordinator 127.0.0.1:PORT --process-id K --processes P`` appended,
    and, when ``devices_per_process`` is given, that many CPU host devices. Process 0's output
    goes to this process's stdout; the others' is shown only when they fail.

    Returns
    -------
    int
        0 when all succeed, else the first nonzero exit status (124 after ``timeout`` seconds,
        when every process still running is killed).
    """
    _check_count("launch_local: num_processes", num_processes, 1)
    port = free_port()
    env = dict(os.environ)
    if devices_per_process is not None:
        flags = [f for f in env.get("XLA_FLAGS", "").split()
                 if "xla_force_host_platform_device_count" not in f]
        env["XLA_FLAGS"] = " ".join(flags + [
            f"--xla_force_host_platform_device_count={int(devices_per_process)}"])
    procs, logs = [], []
    for k in range(num_processes):
        cmd = [sys.executable, script, *argv, "--coordinator", f"127.0.0.1:{port}",
               "--process-id", str(k), "--processes", str(num_processes)]
        # the others write to files, which never fill up and block them as a pipe can
        log = None if k == 0 else tempfile.TemporaryFile("w+")
        logs.append(log)
        procs.append(subprocess.Popen(cmd, env=env, stdout=log,
                                      stderr=None if k == 0 else subprocess.STDOUT, text=True))
    deadline = time.monotonic() + timeout
    codes: list[int | None] = [None] * num_processes
    try:
        while any(c is None for c in codes) and time.monotonic() < deadline:
            for k, p in enumerate(procs):
                if codes[k] is None:
                    codes[k] = p.poll()
            if any(c not in (None, 0) for c in codes):
                break
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait(timeout=30)
    for k, log in enumerate(logs):
        if log is not None:
            log.seek(0)
            out = log.read()
            if codes[k] not in (None, 0) and out:
                sys.stderr.write(f"--- process {k} ---\n{out}")
            log.close()
    if any(c is None for c in codes) and not any(codes):
        sys.stderr.write(f"launch_local: the processes did not finish within {timeout} s; "
                         "killed.\n")
        return 124
    return next((c for c in codes if c), 0 if all(c == 0 for c in codes) else 1)
