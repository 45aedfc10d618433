"""Saving and restoring every state of a model, without pickle."""

from ._checkpoint import load_checkpoint, save_checkpoint

__all__ = ["save_checkpoint", "load_checkpoint"]
