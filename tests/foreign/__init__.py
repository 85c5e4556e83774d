"""Model services nobody here wrote, for the end-to-end tests of `python -m stack up --target`
(tests/e2e/test_foreign_targets.py): each is written as its library's users write one, imports nothing of the
project (the BentoML one runs in its own virtualenv, .venv-bentoml), serves a scikit-learn model trained on the
project's data set, and has an error switch for the fault drill."""
