"""The endpoint on the host: serve, deploy blue/green, roll back, production variants and their
weights, autoscaling, metrics, stop, invoke.

Owns commands.py (`python -m pipeline.endpoints.commands`, what `make serve|deploy|rollback|
weights|stop|invoke` run), served.py (what is served and on which services), fleet.py
(variants: serve and weights), reconfigure.py (`make serve` on a running endpoint:
UpdateEndpoint with a new config), shifting.py (blue/green updates, with guardrails), bluegreen.py
(the router, the two colours and the variants' services on docker-compose), variants.py
(endpoint configs, weights and the router's split), guardrails.py (DeploymentConfig: canary and
linear shifts, alarms), autoscaling.py (`make autoscale`: target tracking), metrics.py
(`make metrics`), deployments.py (what is live, and what was before) and requests.py
(CreateEndpointConfig, CreateEndpoint, UpdateEndpoint and their Describe answers, for `make
job`). It may import pipeline.registry, pipeline.api (a request's checks, kept models),
pipeline.runs and the model archive module; the monitoring package reads the deployment
history through it.
"""
