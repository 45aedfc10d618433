"""Connection layers: dense, event-driven and convolutional, usable as the communication part of
projections; Dale's-law layers, pooling and weight standardisation."""
from ._conv import Conv2d
from ._dale import DaleLinear
from ._dense import EventLinear, Linear
from ._pool import AvgPool2d, MaxPool2d
from ._sparse import EventFixedNumConn, EventFixedProb, FixedNumConn
from ._standardize import WSConv2d, WSLinear, standardize_weight

__all__ = ["Linear", "EventLinear", "DaleLinear", "EventFixedProb", "FixedNumConn",
           "EventFixedNumConn", "Conv2d", "WSConv2d", "WSLinear", "standardize_weight",
           "AvgPool2d", "MaxPool2d"]
