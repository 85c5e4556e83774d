"""The baseline of bench/overhead.py: a bare FastAPI app whose POST endpoint does nothing."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/predict")
async def predict() -> dict[str, str]:
    return {}
