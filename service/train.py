"""Train the insurance-charges regressor and export it as a versioned ONNX artifact.

    python -m service.train [--data CSV] [--out DIR]

Training is deterministic (fixed seed and split), so the same data always gives the same
metrics and the same artifact version: the version is a hash of the exported model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import sklearn
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

from contract import dataset
from contract.routes import MODEL_NAME
from contract.schemas import InsuranceRecord
from service.features import FEATURE_NAMES, encode
from service.settings import DEFAULT_MODEL_DIR

SEED = 42
TEST_SIZE = 0.2
HYPERPARAMS: dict[str, Any] = {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05, "random_state": SEED}


@dataclass(frozen=True)
class TrainingResult:
    estimator: GradientBoostingRegressor
    metrics: dict[str, float]
    n_train: int
    n_test: int


def fit(data: dataset.Dataset) -> TrainingResult:
    """Fit on a fixed 80/20 split and score on the held-out part."""
    x_train, x_test, y_train, y_test = train_test_split(
        encode(data.records), np.asarray(data.charges), test_size=TEST_SIZE, random_state=SEED
    )
    estimator = GradientBoostingRegressor(**HYPERPARAMS).fit(x_train, y_train)
    predicted = estimator.predict(x_test)
    metrics = {
        "r2": float(r2_score(y_test, predicted)),
        "mae": float(mean_absolute_error(y_test, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
    }
    return TrainingResult(estimator, metrics, n_train=len(y_train), n_test=len(y_test))


def export_onnx(estimator: GradientBoostingRegressor) -> bytes:
    sample = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)
    return to_onnx(estimator, sample, target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()


def metadata(result: TrainingResult, data: dataset.Dataset, onnx_bytes: bytes) -> dict[str, Any]:
    return {
        "name": MODEL_NAME,
        "version": "gbr-" + hashlib.sha256(onnx_bytes).hexdigest()[:12],
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "algorithm": "sklearn.ensemble.GradientBoostingRegressor",
        "hyperparameters": HYPERPARAMS,
        "data": {"sha256": data.sha256, "rows": len(data.records), "test_size": TEST_SIZE, "seed": SEED},
        "metrics": {"held_out": result.metrics, "n_train": result.n_train, "n_test": result.n_test},
        "features": list(FEATURE_NAMES),
        "input_schema": InsuranceRecord.model_json_schema(),
        "target": "charges",
        "libraries": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }


def write_artifact(out: Path, onnx_bytes: bytes, meta: dict[str, Any]) -> Path:
    """Write <out>/<version>/{model.onnx,metadata.json} and point <out>/latest at it."""
    target = out / meta["version"]
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.onnx").write_bytes(onnx_bytes)
    (target / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "latest").write_text(meta["version"] + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.train",
        description="Train the insurance-charges model and write a versioned ONNX artifact.",
    )
    parser.add_argument("--data", type=Path, default=dataset.DATA_PATH, help="CSV file (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="artifact folder (default: %(default)s)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    data = dataset.load(args.data)
    result = fit(data)
    onnx_bytes = export_onnx(result.estimator)
    meta = metadata(result, data, onnx_bytes)
    target = write_artifact(args.out, onnx_bytes, meta)
    m = result.metrics
    print(
        f"trained {meta['version']} on {result.n_train} rows in {time.perf_counter() - started:.1f}s; "
        f"held-out ({result.n_test} rows): R2={m['r2']:.4f} MAE={m['mae']:.1f} RMSE={m['rmse']:.1f}\n"
        f"artifact: {target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
