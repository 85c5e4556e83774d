"""Prometheus files from the spec: SLO rules (Sloth's names), operational alerts, promtool tests, configs."""
