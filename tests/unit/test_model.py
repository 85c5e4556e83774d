"""The model: quality, ONNX parity with scikit-learn on every row, reproducible training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contract import dataset
from service import train
from service.features import encode
from service.model import Model


@pytest.fixture(scope="module")
def data() -> dataset.Dataset:
    return dataset.load()


@pytest.fixture(scope="module")
def trained(data: dataset.Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[train.TrainingResult, Path]:
    out = tmp_path_factory.mktemp("models")
    assert train.main(["--out", str(out)]) == 0
    return train.fit(data), out


def test_data_set_is_complete(data: dataset.Dataset) -> None:
    assert len(data.records) == 1338
    assert encode(data.records).shape == (1338, 9)


def test_held_out_quality(trained: tuple[train.TrainingResult, Path]) -> None:
    result, _ = trained
    assert result.metrics["r2"] >= 0.85
    assert result.n_test == 268


def test_onnx_matches_sklearn_on_every_row(data: dataset.Dataset, trained: tuple[train.TrainingResult, Path]) -> None:
    result, out = trained
    expected = result.estimator.predict(encode(data.records))
    got = Model.load(out).predict_matrix(encode(data.records))
    rel = np.abs(got - expected) / np.abs(expected)
    assert rel.max() <= 1e-4, f"worst relative difference {rel.max():.2e}"


def test_training_is_reproducible(
    data: dataset.Dataset, trained: tuple[train.TrainingResult, Path], tmp_path: Path
) -> None:
    _, first_out = trained
    assert train.main(["--out", str(tmp_path)]) == 0
    first = json.loads((first_out / (first_out / "latest").read_text().strip() / "metadata.json").read_text())
    second = json.loads((tmp_path / (tmp_path / "latest").read_text().strip() / "metadata.json").read_text())
    assert first["metrics"] == second["metrics"]
    assert first["version"] == second["version"]
    assert first["data"]["sha256"] == data.sha256


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    from service.model import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match=r"service\.train"):
        Model.load(tmp_path)
