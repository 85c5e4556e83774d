"""The tiny scikit-learn model both foreign services serve: a linear regression of the charges on the insurance
records' features (the data set's columns, one-hot categories), trained when the service starts (a fraction of a
second). Standard library, numpy and scikit-learn only: the BentoML service imports it from its own virtualenv,
where nothing of the project is installed."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression

#: The project's data set; FOREIGN_DATA names another copy.
DATA = Path(os.environ.get("FOREIGN_DATA", Path(__file__).parents[2] / "contract" / "data" / "insurance.csv"))
REGIONS = ("northeast", "northwest", "southeast", "southwest")


def features(record: Mapping[str, Any]) -> list[float]:
    """One record's feature row; KeyError or ValueError for a record without a feature or with a bad value."""
    return [
        float(record["age"]),
        float(record["sex"] == "male"),
        float(record["bmi"]),
        float(record["children"]),
        float(record["smoker"] == "yes"),
        *(float(record["region"] == region) for region in REGIONS),
    ]


class Model:
    """Trained on the whole data set: these services are measured, not the model."""

    def __init__(self, data: Path = DATA) -> None:
        with data.open(newline="") as f:
            rows = list(csv.DictReader(f))
        x = np.array([features(row) for row in rows])
        y = np.array([float(row["charges"]) for row in rows])
        self.estimator = LinearRegression().fit(x, y)

    def predict(self, record: Mapping[str, Any]) -> float:
        return float(self.estimator.predict(np.array([features(record)]))[0])


def records(data: Path = DATA) -> list[dict[str, Any]]:
    """The data set's records as a client sends them (typed, without the charges)."""
    with data.open(newline="") as f:
        return [
            {
                "age": int(row["age"]),
                "sex": row["sex"],
                "bmi": float(row["bmi"]),
                "children": int(row["children"]),
                "smoker": row["smoker"],
                "region": row["region"],
            }
            for row in csv.DictReader(f)
        ]
