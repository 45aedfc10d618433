"""The COBA example's single-device propagation (whole spike vector against offset CSR rows)
gives the spikes of the sliced formulation ``s[:ne] @ W_exc``, ``s[ne:] @ W_inh``, bit for bit."""
import importlib.util
from pathlib import Path

import brainunit as u
import numpy as np
import pytest

EX = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EX / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("scale,seed", [(0.25, 0), (0.3, 3)])
def test_offset_rows_give_the_sliced_spikes(scale, seed):
    import brainsim
    from brainsim import event
    from brainsim.runner import Runner, SpikeMonitor
    ex = _load("ei_coba_lif")
    brainsim.environ.set(dt=0.1 * u.ms)

    class Sliced(ex.EINet):
        def __init__(self, scale, seed):
            super().__init__(scale, seed)
            ne = self.n_exc
            We, Wi = ex.connectivity("csr", self.n_exc, self.n_inh, scale, seed)
            self.exc.comm = lambda s: event.BinaryArray(s[:ne]) @ We
            self.inh.comm = lambda s: event.BinaryArray(s[ne:]) @ Wi

    recs = []
    for cls in (ex.EINet, Sliced):
        brainsim.random.seed(seed)
        net = brainsim.init_states(cls(scale, seed))
        recs.append(Runner(net, monitors={"s": SpikeMonitor(net.neu)}, progress=False)
                    .run(80. * u.ms)["s"])
    a, b = recs
    assert a.count > 50                 # the network is active, so the comparison means something
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.i, b.i)
