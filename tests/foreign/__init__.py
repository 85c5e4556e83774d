"""Model services for the end-to-end tests of `python -m stack up --target` (tests/e2e/test_foreign_targets.py),
each written as its library's users write one, serving a scikit-learn model trained on the project's data set,
with an error switch for the fault drill: a BentoML service (run from its own virtualenv, .venv-bentoml) and a
FastAPI app with prometheus-fastapi-instrumentator, which import nothing of the project, and a FastAPI app that
calls our `instrument(app)` and nothing else of ours."""
