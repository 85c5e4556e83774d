"""The whole stack on one machine without Docker: service, loadgen daemon, Prometheus and Alertmanager.

`python -m stack up` renders the configs into run/, runs the processes (stack/supervisor.py, each writing to
run/logs/NAME.log), keeps a live status on the terminal (stack/status/) and, in bounded soak mode, prints the
SLO report read from Prometheus.
"""
