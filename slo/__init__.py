"""SLOs as code: one Sloth `prometheus/v1` spec -> Prometheus rules, promtool tests and load-test thresholds."""
