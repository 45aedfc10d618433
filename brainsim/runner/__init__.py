"""Running simulations: ``run``/``Runner`` with a progress bar, and monitors."""
from ._monitors import Rate, RateMonitor, SpikeMonitor, SpikeRecord, StateMonitor, Trace
from ._run import Runner, RunResult, run

__all__ = ["run", "Runner", "RunResult", "SpikeMonitor", "StateMonitor", "RateMonitor",
           "SpikeRecord", "Trace", "Rate"]
