"""The model's feature encoding, in one place.

Training and serving must turn a record into the same vector, column for column; keeping the
encoding here (and nowhere else) is what makes the ONNX artifact's parity test meaningful.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from contract.schemas import REGIONS

#: Column order of the model's input matrix. Part of the artifact's metadata.
FEATURE_NAMES: tuple[str, ...] = (
    "age",
    "bmi",
    "children",
    "sex_male",
    "smoker",
    *(f"region_{r}" for r in REGIONS),
)

_REGION_INDEX = {r: i for i, r in enumerate(REGIONS)}


def encode_row(age: int, sex: str, bmi: float, children: int, smoker: bool, region: str) -> list[float]:
    """One record as a feature row (a plain list: cheaper than numpy for a single row)."""
    row = [float(age), float(bmi), float(children), 1.0 if sex == "male" else 0.0, 1.0 if smoker else 0.0]
    onehot = [0.0, 0.0, 0.0, 0.0]
    onehot[_REGION_INDEX[region]] = 1.0
    return row + onehot


def encode(records: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Records (mappings with the six input fields) as a float32 matrix in FEATURE_NAMES order."""
    rows = [encode_row(r["age"], r["sex"], r["bmi"], r["children"], r["smoker"], r["region"]) for r in records]
    return np.asarray(rows, dtype=np.float32).reshape(-1, len(FEATURE_NAMES))
