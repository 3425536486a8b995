"""The workloads the jobs know, each a folder, and the one interface they all implement.

registry.py names them (penguins, digits) and holds the interface's data shapes (Prepared,
Exported) and the facts file; each workload folder's workload.py implements the interface
(process_outputs, training_data, network, export, test_data, …) that penguins/workload.py
documents. A workload may import training.model and training.contract, never jobs or monitor:
the jobs call a workload, a workload never calls a job.
"""
