"""Grafana dashboards, generated from code and from the SLO spec (by `python -m generators`)."""
