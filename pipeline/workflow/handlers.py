"""The program's Lambda functions, as local handlers (pipeline/workflow/lambdas.json maps their
ARNs here): `deploy` puts a registered model package on the endpoint, `schedule_monitors`
starts the monitoring schedule. Each is what the Lambda does on AWS (CreateEndpoint or
UpdateEndpoint; CreateMonitoringSchedule), done by the make target that does it here, so the
endpoint and schedule are the same ones `make serve`/`make deploy`/`make monitor-schedule`
manage. make's own variables (IMAGE_TAG, ENDPOINT_PORT...) reach it through MAKEFLAGS.
"""

import os
import re
import subprocess
from pathlib import Path

from pipeline.endpoints import deployments

REPO = Path(__file__).resolve().parents[2]
PACKAGE = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:model-package/([^/]+)/(\d+)$")


def make(*arguments: str) -> None:
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *arguments],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"make {' '.join(arguments)} failed: {' | '.join(tail)}")


def _live() -> bool:
    folder = os.environ.get("ENDPOINT_DIR")
    if not folder:
        return False
    try:
        return deployments.live(deployments.load(Path(folder))) is not None
    except deployments.HistoryError:
        return False


def deploy(event: dict, context) -> dict:
    """Serve the package's version when no endpoint runs (CreateEndpoint), else blue/green to
    the newest Approved version (UpdateEndpoint)."""
    match = PACKAGE.match(str(event.get("model_package_arn", "")))
    if not match:
        raise ValueError(f"model_package_arn {event.get('model_package_arn')!r} is not a "
                         "model package version's ARN (…:model-package/<group>/<version>)")
    group, version = match.groups()
    if _live():
        make("deploy", f"MODEL_GROUP={group}")
        action = "UpdateEndpoint"
    else:
        make("serve", f"MODEL_GROUP={group}", f"MODEL_VERSION={version}")
        action = "CreateEndpoint"
    return {"endpoint_name": event.get("endpoint_name", "penguins-endpoint"),
            "action": action, "model_package_version": version}


def schedule_monitors(event: dict, context) -> dict:
    """CreateMonitoringSchedule for the endpoint's data (and model) quality."""
    make("monitor-schedule")
    return {"schedule": "started", "endpoint_name": event.get("endpoint_name", "")}
