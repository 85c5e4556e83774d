import os

import numpy as np
import onnxruntime
from fastapi import FastAPI

from service.instrument import instrument
from service.serving import serve

model = onnxruntime.InferenceSession(os.environ["MODEL_PATH"])  # any ONNX model, e.g. a scikit-learn export
app = FastAPI(title="my-model")


@app.post("/predict")
async def predict(features: list[float]) -> dict[str, float]:
    (output,) = model.run(None, {model.get_inputs()[0].name: np.array([features], dtype=np.float32)})
    return {"prediction": float(output.ravel()[0])}


instrument(app)  # metrics, log lines, traces, /metrics, overload protection; settings: SERVICE_* variables
if __name__ == "__main__":
    serve(app)  # with the HTTP protocol of the overload protection; plain `uvicorn` works too, with less of it
