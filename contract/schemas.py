"""Request and response models, and the category values, in one order.

The service validates with these models and the load generator builds its payloads from them, so a
change here cannot drift away from the traffic that exercises it. The category values' order is the
model's one-hot column order (service/features.py) and the order of every label and chart.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic.config import JsonDict

Sex = Literal["female", "male"]
Region = Literal["northeast", "northwest", "southeast", "southwest"]
SEXES: tuple[str, ...] = get_args(Sex)
REGIONS: tuple[str, ...] = get_args(Region)

#: Categorical inputs and their values as metric labels (booleans as JSON writes them).
CATEGORIES: dict[str, tuple[str, ...]] = {"sex": SEXES, "smoker": ("true", "false"), "region": REGIONS}


def _integral_float_to_int(value: object) -> object:
    """JSON Schema's `integer` admits 42.0; strings and booleans stay refused (strict int)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer as JSON Schema means it: 42 and 42.0, but not "42", true or 42.5. (The validator goes
#: last in each field's Annotated, or pydantic drops the bounds from the JSON schema.)
AS_JSON_INT = BeforeValidator(_integral_float_to_int)

EXAMPLE_RECORD: JsonDict = {
    "age": 42,
    "sex": "female",
    "bmi": 24.3,
    "children": 2,
    "smoker": False,
    "region": "northeast",
}


class InsuranceRecord(BaseModel):
    """One person's data: the model's inputs, with the original service's validation rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [EXAMPLE_RECORD]})

    age: Annotated[
        int, Field(ge=18, le=65, strict=True, description="Age of the primary beneficiary, in years."), AS_JSON_INT
    ]
    sex: Annotated[Sex, Field(description="Sex of the insurance contractor.")]
    bmi: Annotated[float, Field(ge=15, le=50, allow_inf_nan=False, strict=True, description="Body mass index, kg/m².")]
    children: Annotated[int, Field(ge=0, le=5, strict=True, description="Number of children covered."), AS_JSON_INT]
    smoker: Annotated[StrictBool, Field(description="Whether the beneficiary smokes.")]
    region: Annotated[Region, Field(description="Residential area in the US.")]


class Prediction(BaseModel):
    charges: Annotated[float, Field(description="Predicted yearly medical charges, in USD.")]
    model_version: Annotated[str, Field(description="Version of the model that answered.")]

    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={"examples": [{"charges": 8241.53, "model_version": "gbr-0a1b2c3d4e5f"}]},
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"records": [EXAMPLE_RECORD]}]})

    records: Annotated[
        list[InsuranceRecord],
        Field(min_length=1, description="Records to score; at most the service's SERVICE_MAX_BATCH_SIZE."),
    ]


class BatchPrediction(BaseModel):
    predictions: Annotated[list[Prediction], Field(description="One prediction per record, in order.")]


class LegacyPrediction(BaseModel):
    """The original service's response: charges only, rounded to cents."""

    charges: float


class ErrorMessage(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
