"""The model: quality, ONNX parity with scikit-learn on every row, reproducible training, clear load errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contract import dataset
from service import train
from service.features import FEATURE_NAMES, encode
from service.model import Model, ModelNotFoundError, resolve
from tests.unit.service.conftest import Trained


@pytest.fixture(scope="module")
def data() -> dataset.Dataset:
    return dataset.load()


def test_data_set_is_complete(data: dataset.Dataset) -> None:
    assert len(data.records) == 1338
    assert encode(data.records).shape == (1338, len(FEATURE_NAMES))


def test_held_out_quality(trained: Trained) -> None:
    assert trained.result.metrics["r2"] >= 0.85
    assert trained.result.n_test == 268


def test_onnx_matches_sklearn_on_every_row(data: dataset.Dataset, trained: Trained) -> None:
    expected = trained.result.estimator.predict(encode(data.records))
    got = Model.load(trained.model_dir).predict_matrix(encode(data.records))
    rel = np.abs(got - expected) / np.abs(expected)
    assert rel.max() <= 1e-4, f"worst relative difference {rel.max():.2e}"


def test_training_is_reproducible(data: dataset.Dataset, trained: Trained, tmp_path: Path) -> None:
    assert train.main(["--out", str(tmp_path)]) == 0
    first = json.loads((trained.model_dir / trained.version / "metadata.json").read_text())
    second = json.loads((tmp_path / (tmp_path / "latest").read_text().strip() / "metadata.json").read_text())
    assert first["metrics"] == second["metrics"]
    assert first["version"] == second["version"]
    assert first["data"]["sha256"] == data.sha256


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"service\.train"):
        Model.load(tmp_path)
    (tmp_path / "latest").write_text("gbr-nothere\n")
    with pytest.raises(ModelNotFoundError, match="gbr-nothere"):
        resolve(tmp_path)


def test_an_artifact_with_other_features_is_refused(trained: Trained, tmp_path: Path) -> None:
    source = trained.model_dir / trained.version
    target = tmp_path / trained.version
    target.mkdir()
    (target / "model.onnx").write_bytes((source / "model.onnx").read_bytes())
    meta = json.loads((source / "metadata.json").read_text())
    (target / "metadata.json").write_text(json.dumps({**meta, "features": ["age"]}))
    with pytest.raises(ValueError, match="differ from the code's"):
        Model.load(tmp_path, trained.version)
