"""The endpoint on the host: serve, deploy blue/green, roll back, stop, invoke.

Owns commands.py (`python -m pipeline.endpoints.commands`, what `make serve|deploy|rollback|stop|
invoke` run), bluegreen.py (the router and the two colours on docker-compose) and deployments.py
(which model is live, and what was before). It may import pipeline.registry, pipeline.runs and
the model archive module; the monitoring package reads the deployment history through it.
"""
