"""schemathesis against the running endpoint, driven by the OpenAPI document it serves: the
request schema is the served model's signature."""

import subprocess
import sys
from pathlib import Path

import requests


def test_openapi_document_is_served_and_names_every_route(endpoint):
    from serving.app import ROUTES

    document = requests.get(f"{endpoint.url}/openapi.json", timeout=10).json()
    assert set(document["paths"]) == {path for path, _methods, _view in ROUTES}
    record = document["components"]["schemas"]["Record"]
    assert {"island", "body_mass_g"} <= set(record["properties"])  # the trained model's fields


def test_schemathesis_finds_no_failure(endpoint, tmp_path):
    # Any string is a schema-valid text/csv or JSON Lines body, so "valid data must be
    # accepted" cannot hold for those; every other check does.
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run",
        f"{endpoint.url}/openapi.json",
        "--url", endpoint.url, "--checks", "all",
        "--exclude-checks", "positive_data_acceptance",
        "--max-examples", "150", "--generation-deterministic",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
