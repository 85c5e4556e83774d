"""Single-row inference latency: the shipped ONNX model vs scikit-learn's predict, same rows, one run.

    python bench/inference.py [--rows 2000]

Goal: the shipped model's single-row p50 <= 20 µs in-process.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from contract import dataset
from contract.schemas import InsuranceRecord
from service import train
from service.features import encode
from service.model import Model
from service.settings import ServiceSettings


def timings_us(fn: Callable[[Any], object], items: list[Any]) -> np.ndarray:
    for item in items[:200]:  # warm-up
        fn(item)
    out = np.empty(len(items))
    for i, item in enumerate(items):
        start = time.perf_counter_ns()
        fn(item)
        out[i] = (time.perf_counter_ns() - start) / 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="predictions per contender (default: %(default)s)")
    args = parser.parse_args()

    data = dataset.load()
    settings = ServiceSettings()
    model = Model.load(settings.model_dir, settings.model_version)
    estimator = train.fit(data).estimator
    picks = np.random.default_rng(0).integers(0, len(data.records), args.rows)
    records = [InsuranceRecord(**{**data.records[i], "bmi": min(data.records[i]["bmi"], 50.0)}) for i in picks]
    features = encode(data.records)
    rows = [features[i : i + 1] for i in picks]

    results = {
        "onnx (record -> charges)": timings_us(lambda r: model.predict([r]), records),
        "onnx (feature row)": timings_us(model.predict_matrix, rows),
        "scikit-learn predict": timings_us(estimator.predict, rows),
    }
    print(f"single-row inference, {args.rows} rows each, model {model.version}")
    print(f"{'contender':28} {'p50 µs':>9} {'p99 µs':>9}")
    for name, t in results.items():
        print(f"{name:28} {np.percentile(t, 50):9.1f} {np.percentile(t, 99):9.1f}")
    onnx_p50 = np.percentile(results["onnx (record -> charges)"], 50)
    sk_p50 = np.percentile(results["scikit-learn predict"], 50)
    print(f"ratio scikit-learn p50 / onnx p50: {sk_p50 / onnx_p50:.1f}x")
    print(f"goal onnx p50 <= 20 µs: {'met' if onnx_p50 <= 20 else 'MISSED'} ({onnx_p50:.1f} µs)")


if __name__ == "__main__":
    main()
