"""Grafana dashboards, generated from code and from the SLO spec (python -m slo.grafana)."""
