"""Connection layers: dense, event-driven and convolutional, usable as the communication part of
projections; pooling and weight standardisation for convolutional spiking networks."""
from ._conv import Conv2d
from ._dense import EventLinear, Linear
from ._pool import AvgPool2d, MaxPool2d
from ._sparse import EventFixedNumConn, EventFixedProb, FixedNumConn
from ._standardize import WSConv2d, WSLinear, standardize_weight

__all__ = ["Linear", "EventLinear", "EventFixedProb", "FixedNumConn", "EventFixedNumConn",
           "Conv2d", "WSConv2d", "WSLinear", "standardize_weight", "AvgPool2d", "MaxPool2d"]
