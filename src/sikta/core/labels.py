"""The labels a segmenter gives units it cannot place (shared by the segmenters and the diagnosis).

A module of its own, without the models, so that reading a stored diagnosis (``sikta diagnose``,
the report) knows these labels without loading scikit-learn and SciPy.
"""

from __future__ import annotations

__all__ = ["NO_DATA", "NO_ANSWERS", "TOO_FEW"]

#: behavioral: too little purchase data to say how the unit buys
NO_DATA = "no purchase data"
#: needs: the unit answered no survey item
NO_ANSWERS = "no answers"
#: needs: the unit answered fewer items than ``min_answered``
TOO_FEW = "too few answers"
