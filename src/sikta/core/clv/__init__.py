"""Customer lifetime value models (SPEC §4.4): our own vectorized maximum-likelihood fits."""

from sikta.core.clv._base import TIME_UNITS
from sikta.core.clv.bgnbd import BetaGeo
from sikta.core.clv.gamma_gamma import CORRELATION_THRESHOLD, GammaGamma
from sikta.core.clv.paretonbd import ParetoNBD
from sikta.core.clv.simulate import simulate_bgnbd, simulate_spend

__all__ = [
    "CORRELATION_THRESHOLD",
    "TIME_UNITS",
    "BetaGeo",
    "GammaGamma",
    "ParetoNBD",
    "simulate_bgnbd",
    "simulate_spend",
]
