"""Everything the SLO spec drives, generated: Prometheus rules and configs, promtool tests, dashboards, k8s."""
