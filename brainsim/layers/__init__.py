"""Connection layers: dense and event-driven, usable as the communication part of projections."""
from ._dale import DaleLinear
from ._dense import EventLinear, Linear
from ._sparse import EventFixedNumConn, EventFixedProb, FixedNumConn

__all__ = ["Linear", "EventLinear", "DaleLinear", "EventFixedProb", "FixedNumConn", "EventFixedNumConn"]
