"""The whole stack on one machine without Docker: service, loadgen daemon, Prometheus and Alertmanager.

`python -m stack up` renders the configs into run/, hands the processes to honcho (an existing process
manager, driven by a Procfile) and, in bounded soak mode, prints the SLO report read from Prometheus.
"""
