"""The training image's code: processing, training, evaluation and Model Monitor jobs.

Packages, lowest first (each may import only those below it): contract (the /opt/ml job
contract, the model archive), model (graph, network, several hosts), workloads (Penguins,
Digits), monitor (Model Monitor's analyzer), jobs (the entrypoints). docs/architecture.md has
the picture.
"""
