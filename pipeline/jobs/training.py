"""A tuning trial's training folders (pipeline/tuning/trials.py): the channels it mounts from a
processing run and its /opt/ml as SageMaker lays it out. Standard library only.
"""

import json

from pipeline.jobs.builtin import CHANNELS
from pipeline.runs import records as runs


def training_paths(source: runs.Run) -> dict:
    """The channels a training run mounts from a processing run."""
    return {name: source.folder / "processing" / name for name in CHANNELS}


def training_folders(run: runs.Run, paths: dict, hps: dict) -> dict:
    """A training run's /opt/ml as SageMaker lays it out; returns the compose mounts."""
    root = run.folder
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)  # a resumed tuning trial has them already
    for name in ("model", "checkpoints", "output/data", *(f"input/data/{c}" for c in CHANNELS)):
        (root / name).mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hps) + "\n")
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}) + "\n")
    (config / "inputdataconfig.json").write_text(json.dumps({
        name: {"ContentType": "text/csv", "TrainingInputMode": "File",
               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for name in CHANNELS}) + "\n")
    return {"JOB_DIR": root} | {f"CHANNEL_{n.upper()}": p for n, p in paths.items()}
