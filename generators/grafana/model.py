"""Model: what the model is asked and what it answers, beside the training data's reference values, and what
it costs (inference time, batch sizes). Our service's own metrics: an app that only calls `instrument(app)` has
none of them, so a spec about such an app gets no model dashboard (generators.grafana.render).

The reference values are computed from the shipped training data when the dashboard is
generated, so a drift panel compares live traffic with the data the model actually learned from.
"""

from __future__ import annotations

from collections import Counter
from statistics import fmean

from grafana_foundation_sdk.builders import dashboard as db

from contract import dataset
from contract import metrics as m
from contract.schemas import CATEGORIES as CATEGORY_VALUES
from generators.grafana import panels as p
from generators.grafana.panels import RATE

SVC = f'job="{m.SERVICE_JOB}"'
PROC = f'{SVC}, instance=~"$instance"'
CHARGES = m.PREDICTED_CHARGES.name
NUMERIC = (("age", m.INPUT_AGE.name, "Age", "none"), ("bmi", m.INPUT_BMI.name, "BMI", "none"),
           ("children", m.INPUT_CHILDREN.name, "Children", "none"))  # fmt: skip
CATEGORIES = tuple(CATEGORY_VALUES.items())


def _reference(data: dataset.Dataset) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    means = {name: fmean(r[name] for r in data.records) for name, *_ in NUMERIC}
    means["charges"] = fmean(data.charges)
    shares: dict[str, dict[str, float]] = {}
    for feature, values in CATEGORIES:
        counts = Counter(str(r[feature]).lower() for r in data.records)
        shares[feature] = {v: counts[v] / len(data.records) for v in values}
    return means, shares


def build() -> db.Dashboard:
    means, shares = _reference(dataset.load())
    dash = (
        p.dashboard(
            "Model: inputs and predictions",
            "prediction-model",
            "Predicted charges, inference cost, input distributions against the training data, validation errors.",
            ["model", "drift"],
            "now-3h",
            "1m",
        )
        .with_variable(p.label_variable("instance", "Instance", f"up{{{SVC}}}", "instance"))
        .with_row(p.row("Predictions"))
        .with_panel(
            p.stat_panel(
                "Model version",
                "The model version each instance serves (from model_info).",
                [(f"max by (version) ({m.MODEL_INFO.name}{{{PROC}}})", "{{version}}")],
                "none",
                width=6,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Predicted charges",
                "Median, p90 and mean of predicted yearly charges; dashed: the training data's mean charges.",
                [
                    *[(p.quantile(q, CHARGES, PROC), f"p{round(q * 100)}") for q in (0.5, 0.9)],
                    (p.mean(CHARGES, PROC), "mean"),
                ],
                "currencyUSD",
                width=18,
                lines=[(round(means["charges"], 2), "blue")],
            )
        )
        .with_row(p.row("Inference"))
        .with_panel(
            p.timeseries_panel(
                "Inference time",
                "p50 and p99 of the model's own inference time, single records and batches apart.",
                [
                    (p.quantile(q, m.INFERENCE_DURATION.name, PROC, by="kind"), f"{{{{kind}}}} p{round(q * 100)}")
                    for q in (0.5, 0.99)
                ],
                "s",
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Batch size",
                "Mean and p90 records per batch request.",
                [(p.mean(m.BATCH_SIZE.name, PROC), "mean"), (p.quantile(0.9, m.BATCH_SIZE.name, PROC), "p90")],
                "short",
            )
        )
        .with_row(p.row("Numeric inputs"))
    )
    for name, metric, title, unit in NUMERIC:
        dash = dash.with_panel(
            p.timeseries_panel(
                f"{title}: mean",
                f"Mean {name} of the records scored; dashed: the training data's mean ({means[name]:.2f}).",
                [(p.mean(metric, PROC), "live")],
                unit,
                width=8,
                lines=[(round(means[name], 3), "blue")],
            )
        )
    for name, metric, title, unit in NUMERIC:
        dash = dash.with_panel(
            p.distribution_panel(
                f"{title}: distribution",
                f"Records scored per {name} bucket over the selected time range.",
                f"sum by (le) (increase({metric}_bucket{{{PROC}}}[$__range]))",
                unit,
            )
        )
    dash = dash.with_row(p.row("Categorical inputs"))
    for feature, values in CATEGORIES:
        sel = f'{PROC}, feature="{feature}"'
        live = (
            f"sum by (value) (rate({m.INPUT_CATEGORY.name}{{{sel}}}[{RATE}])) / ignoring(value) group_left "
            f"sum(rate({m.INPUT_CATEGORY.name}{{{sel}}}[{RATE}]))",
            "live {{value}}",
        )
        refs = [
            (f'label_replace(vector({shares[feature][v]:.4f}), "value", "{v}", "", "")', f"training {v}")
            for v in values
        ]
        dash = dash.with_panel(
            p.timeseries_panel(
                f"{feature}: shares",
                f"Share of each {feature} value among the records scored, next to its share in the training data.",
                [live, *refs],
                "percentunit",
                width=8,
                minimum=0,
            )
        )
    return dash.with_row(p.row("Validation")).with_panel(
        p.timeseries_panel(
            "Validation errors by field",
            "Requests refused with 422, per second, by the field at fault. Zero when every request is valid.",
            [
                (
                    f"sum by (field) (rate({m.VALIDATION_ERRORS.name}{{{PROC}}}[{RATE}])) or on() vector(0)",
                    "{{field}}",
                )
            ],
            "reqps",
            width=24,
            minimum=0,
        )
    )
