"""The workloads the jobs know: a name -> the module that implements the workload interface.

A new workload is one folder whose workload.py implements what
training/workloads/penguins/workload.py documents (process_outputs, training_data,
network, export, test_data and the constants), plus one line here; serving/
needs nothing, as the exported graph carries its own signature. Modules are imported by name
only when picked, so one workload's libraries never slow another's job.
"""

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from training.contract.jobio import JobError

WORKLOADS = {
    "penguins": "training.workloads.penguins.workload",
    "digits": "training.workloads.digits.workload",
}
DEFAULT = "penguins"
FACTS = "workload.json"  # in the pipeline output and in the model: {"workload": name, ...}
# One real request record of the test split (processing writes it to pipeline/); training puts
# it in the model and its signature, so `make invoke` and conformance checks need no knowledge
# of the workload.
SAMPLE = "sample.json"


@dataclass
class Prepared:
    """A workload's training data, validated: what training_data() returns."""
    x: object
    y: object
    validation: tuple | None
    labels: list
    features: object = None  # a fitted transformer, for workloads that have one
    pipeline: Path | None = None  # the pipeline channel, for what export() copies from it
    facts: dict = field(default_factory=dict)  # the pipeline's workload.json


@dataclass
class Exported:
    """What export() returns: the one graph and what it must answer before it is written."""
    graph: object  # onnx ModelProto with its signature
    feeds: dict  # graph inputs for the check
    expected: object  # what the fitted pipeline (scikit-learn, Keras) answers for them
    card: dict = field(default_factory=dict)


def get(name: str):
    """The workload's module, or JobError listing the known ones."""
    if name not in WORKLOADS:
        raise JobError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    return importlib.import_module(WORKLOADS[name])


def read(folder: Path, where: str) -> tuple[object, dict]:
    """(module, facts) from folder's workload.json; none is Penguins (outputs from before
    workloads). `where` names the folder in errors, e.g. "channel pipeline"."""
    path = folder / FACTS
    try:
        facts = json.loads(path.read_text())
    except FileNotFoundError:
        return get(DEFAULT), {"workload": DEFAULT}
    except (OSError, ValueError) as error:
        raise JobError(f"{where}: cannot read {FACTS} ({error})") from None
    if not isinstance(facts, dict) or not isinstance(facts.get("workload"), str):
        raise JobError(f"{where}: {FACTS} has no \"workload\" name")
    return get(facts["workload"]), facts
