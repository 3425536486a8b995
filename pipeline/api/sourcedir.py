"""Script mode's code, fetched by the host: a training job whose sagemaker_submit_directory
hyperparameter is an s3:// or file:// URI (what the SDK's estimators send for entry_point and
source_dir) gets that code in its code folder, /opt/ml/input/data/code/, and the hyperparameter
names it there. On SageMaker the toolkit downloads it from inside the container; here a single
host's container has no network (as a network-isolated job), so the host fetches the code as it
fetches the channels. DescribeTrainingJob still shows the URI the request gave. Standard
library only.
"""

import json
from dataclasses import replace
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from pipeline.api.requests import SCHEMES, TRAINING, JobRequest
from pipeline.api.storage import Storage

SUBMIT_DIRECTORY = "sagemaker_submit_directory"
# Where the fetched code is mounted: the code channel's folder.
CODE_FOLDER = "/opt/ml/input/data/code"
CODE_CHANNEL = "code"


def submitted(hyperparameters: dict) -> tuple[str, bool] | None:
    """(the code's URI, whether the value was JSON-encoded as the SDK writes it), or None when
    the job names no code the host has to fetch (none, or a path inside the container)."""
    value = hyperparameters.get(SUBMIT_DIRECTORY)
    if value is None:
        return None
    try:
        uri, encoded = json.loads(value), True
    except ValueError:
        uri, encoded = value, False
    if not isinstance(uri, str) or not uri.startswith(SCHEMES):
        return None
    return uri, encoded


def stage(job: JobRequest, storage: Storage, folder: Path) -> tuple[JobRequest, Path | None]:
    """(the job as its containers see it, the host folder to mount at CODE_FOLDER or None).
    A job with its own `code` channel keeps its hyperparameter as given: the channel is the
    code folder then. StorageError when the code cannot be fetched."""
    found = submitted(job.hyperparameters) if job.kind == TRAINING else None
    if found is None or any(item.name == CODE_CHANNEL for item in job.inputs):
        return job, None
    uri, encoded = found
    storage.fetch(uri, folder)
    name = PurePosixPath(unquote(urlparse(uri).path)).name
    # A file:// folder's files land in the folder itself; an archive lands by its name.
    inside = CODE_FOLDER if not (folder / name).is_file() else f"{CODE_FOLDER}/{name}"
    value = json.dumps(inside) if encoded else inside
    return replace(job, hyperparameters={**job.hyperparameters, SUBMIT_DIRECTORY: value}), folder
