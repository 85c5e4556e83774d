"""The "Medical Cost" data set shipped with the package (public domain, 1,338 rows)."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from service.features import encode

DATA_PATH = Path(__file__).parent / "data" / "insurance.csv"


@dataclass(frozen=True)
class Dataset:
    """Rows as typed records plus the target, and the file's checksum for the model's metadata."""

    records: list[dict[str, Any]]
    charges: np.ndarray
    sha256: str

    @cached_property
    def features(self) -> np.ndarray:
        return encode(self.records)


def load(path: Path = DATA_PATH) -> Dataset:
    raw = path.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines()))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    records = [
        {
            "age": int(r["age"]),
            "sex": r["sex"],
            "bmi": float(r["bmi"]),
            "children": int(r["children"]),
            "smoker": r["smoker"] == "yes",
            "region": r["region"],
        }
        for r in rows
    ]
    charges = np.asarray([float(r["charges"]) for r in rows], dtype=np.float64)
    return Dataset(records=records, charges=charges, sha256=hashlib.sha256(raw).hexdigest())
