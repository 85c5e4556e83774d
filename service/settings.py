"""The service's settings: one object, read from SERVICE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.train import DEFAULT_OUT

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", protected_namespaces=())

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, description="Worker processes (uvicorn).")
    log_level: LogLevel = Field("info", description="Lowest level logged.")
    model_dir: Path = Field(DEFAULT_OUT, description="Folder of trained model versions.")
    model_version: str = Field("latest", description="Version to serve; `latest` follows the pointer file.")
    max_batch_size: int = Field(256, ge=1, description="Most records in one /v1/predict/batch request.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted (413 above).")
