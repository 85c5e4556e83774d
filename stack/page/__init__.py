"""The soak's dashboards as one self-contained HTML page (`python -m stack report --html DIR`).

The page is drawn from the generated Grafana dashboards (generators/grafana/: every panel's queries, unit,
thresholds and description), their queries run as Prometheus range queries over the run's window
(fetch.py), each panel type drawn as inline SVG by its renderer (panels.py, units.py), laid out with the
SLO report on top (render.py). The run folder also holds run.json, what `--compare` reads (compare.py).
"""
