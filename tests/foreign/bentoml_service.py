"""A BentoML service as BentoML's documentation writes one, and nothing of ours: the `predict` API takes one
insurance record (its fields as the JSON body's keys) and answers `{"charges": ...}` from the scikit-learn model.
BentoML's own metrics are at /metrics (the `bentoml` preset of `python -m slo init`).

The error switch for the fault drill: the `errors` API (`POST /errors {"on": true}`) makes every prediction
raise, which BentoML answers 500, until it is switched off. One worker, so the switch is the only state.
Run it from .venv-bentoml, where BentoML is installed (BentoML pins its own dependencies):
`.venv-bentoml/bin/bentoml serve tests.foreign.bentoml_service:Insurance --host 127.0.0.1 --port P`.
"""

import bentoml

from tests.foreign.model import Model

ROUTE = "/predict"


@bentoml.service(workers=1)
class Insurance:
    def __init__(self) -> None:
        self.model = Model()
        self.failing = False

    @bentoml.api
    def errors(self, on: bool) -> dict[str, bool]:
        self.failing = on
        return {"on": self.failing}

    @bentoml.api
    def predict(self, age: int, sex: str, bmi: float, children: int, smoker: str, region: str) -> dict[str, float]:
        if self.failing:
            raise RuntimeError("failing on purpose (the error switch is on)")
        record = {"age": age, "sex": sex, "bmi": bmi, "children": children, "smoker": smoker, "region": region}
        return {"charges": self.model.predict(record)}
