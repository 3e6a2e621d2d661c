"""The notebook an analyst would write instead of Sikta: pandas RFM + lifetimes CLV, from the orders export.

    python bench/baselines/notebook.py DATA_DIR

Reads orders.parquet (or orders.csv) with pandas, computes RFM per customer,
lifetimes' summaries, BG/NBD, Gamma-Gamma and a 12-month CLV - no validation, no
quarantine, nothing stored. Prints one JSON line with its own timings.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

warnings.filterwarnings("ignore")


def main(data: Path) -> dict:
    t0 = time.perf_counter()
    src = data / "orders.parquet"
    orders = pd.read_parquet(src, columns=["account_id", "order_date", "amount"]) if src.exists() else \
        pd.read_csv(data / "orders.csv", usecols=["account_id", "order_date", "amount"])
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    end = orders["order_date"].max()
    rfm = orders.groupby("account_id").agg(last=("order_date", "max"), frequency=("order_date", "nunique"),
                                           monetary=("amount", "sum"))
    rfm["recency_days"] = (end - rfm["last"]).dt.days
    t_rfm = time.perf_counter()
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import ConvergenceError, summary_data_from_transaction_data

    positive = orders[orders["amount"] > 0]
    summary = summary_data_from_transaction_data(positive, "account_id", "order_date", "amount",
                                                 observation_period_end=end, freq="W")
    t_summary = time.perf_counter()
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    try:
        ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"])
    except ConvergenceError:  # what the error message tells the analyst to do, and what they would do
        ggf = GammaGammaFitter(penalizer_coef=0.001).fit(repeat["frequency"], repeat["monetary_value"])
    clv = ggf.customer_lifetime_value(bgf, repeat["frequency"], repeat["recency"], repeat["T"],
                                      repeat["monetary_value"], time=12, freq="W", discount_rate=0.01)
    t_end = time.perf_counter()
    return {"customers": len(summary), "order_lines": len(orders), "rfm_s": round(t_rfm - t0, 2),
            "summaries_s": round(t_summary - t_rfm, 2), "fit_and_clv_s": round(t_end - t_summary, 2),
            "seconds": round(t_end - t0, 2), "clv_total": float(clv.sum()), "bgnbd": bgf.params_.to_dict()}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1])), default=str))
