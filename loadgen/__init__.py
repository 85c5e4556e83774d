"""Synthetic load for the prediction service: an open-loop generator (python -m loadgen run | daemon)."""
