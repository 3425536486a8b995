"""Model tooling every workload builds on: the one ONNX graph, the Keras network, several hosts.

Owns graph.py (a fitted transformer and a network joined into one model.onnx with its signature),
network.py (Keras: fitting, per-epoch logs, checkpoints, saving) and distributed.py (the cluster
from resourceconfig.json, TF_CONFIG, sharding, the failure that names the host). Knows no
workload: it may import training.contract and libraries only, never workloads, jobs or monitor.
"""
