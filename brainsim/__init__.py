"""brainsim: a differentiable, object-oriented brain simulator on JAX."""
