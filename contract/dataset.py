"""The "Medical Cost" data set shipped with the contract (public domain, 1,338 rows).

It is the reference every part shares: training fits the model on it, the load generator draws
realistic records from it, and the model dashboard draws the training distribution beside live inputs.
Plain Python (no numpy), so the load generator can read it without the model's dependencies.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_PATH = Path(__file__).parent / "data" / "insurance.csv"


@dataclass(frozen=True)
class Dataset:
    """Rows as typed records plus the target, and the file's checksum for the model's metadata."""

    records: list[dict[str, Any]]
    charges: list[float]
    sha256: str


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
    charges = [float(r["charges"]) for r in rows]
    return Dataset(records=records, charges=charges, sha256=hashlib.sha256(raw).hexdigest())
