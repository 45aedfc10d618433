"""ODE integrators, chosen by name like Brian2's ``method=``.

Models declare ``f(y, t, *args) -> dy/dt`` (``y`` a pytree of arrays or
brainunit Quantities); a stepper ``step(f, y, t, dt, *args) -> y_next``
advances it by one step. ``get(name)`` returns a stepper, ``integrate`` runs
many steps with ``lax.scan``.
"""
from ._api import METHODS, exact_linear_step, get, integrate
from ._methods import euler, exact, exp_euler, heun, rk2, rk4

__all__ = ['METHODS', 'get', 'integrate', 'exact_linear_step',
           'euler', 'rk2', 'heun', 'rk4', 'exp_euler', 'exact']
