"""Running simulations: ``run``/``Runner`` with a progress bar, and monitors.

A monitor records the state at the start of each step (Brian2's convention):
``values[k]`` holds at ``t[k] = t0 + k * every * dt``; spikes emitted during
step ``k`` are stamped ``t0 + k * dt``; ``t0`` is the model's time, which
successive runs continue.
"""
from ._memory import available_memory
from ._monitors import RateMonitor, SpikeMonitor, StateMonitor
from ._records import Rate, SpikeRecord, Trace
from ._run import Runner, RunResult, run

__all__ = ["run", "Runner", "RunResult", "SpikeMonitor", "StateMonitor", "RateMonitor",
           "SpikeRecord", "Trace", "Rate", "available_memory"]
