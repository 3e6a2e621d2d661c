"""lifetimes' bundled CDNOW data, read from its package files (the oracle for the CLV tests).

``lifetimes.datasets`` itself imports ``pkg_resources``, which recent setuptools
no longer ships, so the files are read directly.
"""

from __future__ import annotations

import importlib.resources
import warnings
from functools import cache

import pandas as pd

warnings.filterwarnings("ignore", module="lifetimes")
warnings.filterwarnings("ignore", module="autograd")


def lifetimes_file(name: str):
    return importlib.resources.files("lifetimes") / "datasets" / name


@cache
def cdnow_summary() -> pd.DataFrame:
    """The 2,357-customer CDNOW sample (weeks, calibration to 1997-09-30), as in FHL 2005."""
    df = pd.read_csv(lifetimes_file("cdnow_customers_summary_with_transactions.csv"))
    df.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    return df.set_index("customer_id")


@cache
def cdnow_master() -> pd.DataFrame:
    """CDNOW_master.txt: 69,659 order lines of 23,570 customers, 1997-01-01 to 1998-06-30."""
    raw = pd.read_csv(lifetimes_file("CDNOW_master.txt"), sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["order_date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


@cache
def cdnow_sample() -> pd.DataFrame:
    """CDNOW_sample.txt: the 6,919 purchase lines of the 2,357 customers behind the published fits."""
    raw = pd.read_csv(lifetimes_file("CDNOW_sample.txt"), sep=r"\s+", header=None,
                      names=["master_id", "customer_id", "date", "number_of_cds", "dollar_value"],
                      dtype={"master_id": str, "customer_id": str, "date": str})
    raw["order_date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw
