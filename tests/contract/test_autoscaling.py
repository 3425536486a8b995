"""Autoscaling as Application Auto Scaling's target tracking on InvocationsPerInstance: four
keep-alive clients push a one-instance variant over its target and it scales out to two; when
they stop it scales back in; no request fails and no connection is lost either way."""

import json
import os
import signal
import subprocess
import time

import docker
import pytest
from keepalive import REPO, Clients, register_version, serving

from harness import compose_project, free_port

# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("autoscaling")
BODY = json.dumps({"island": "Dream", "bill_length_mm": 46.5, "bill_depth_mm": 17.9,
                   "flipper_length_mm": 192, "body_mass_g": 3500, "sex": "female"})
POLICY = {"ScalableTarget": {"ResourceId": "endpoint/penguins-endpoint/variant/v1",
                             "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                             "MinCapacity": 1, "MaxCapacity": 2},
          "TargetTrackingScalingPolicyConfiguration": {
              "TargetValue": 60, "PredefinedMetricSpecification": {
                  "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
              "ScaleOutCooldown": 0, "ScaleInCooldown": 5},
          "PeriodSeconds": 5}


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    register_version(folder, tiny_model_dir, "1")
    port = free_port()
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={PROJECT}", f"ENDPOINT_PORT={port}"]
    with serving(PROJECT, settings, "VARIANTS=v1:1"):
        yield folder, port, settings


def instances(client) -> int:
    return len(client.containers.list(filters={"label": [
        f"com.docker.compose.project={PROJECT}", "com.docker.compose.service=variant-v1"]}))


def wait_for(client, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while instances(client) != count:
        assert time.monotonic() < deadline, f"not {count} instances after {seconds}s"
        time.sleep(0.5)


def recorded(folder, count: int, seconds: float) -> None:
    history = folder / "endpoint" / "penguins" / "deployments.json"
    deadline = time.monotonic() + seconds
    while sum(item["action"] == "autoscale"
              for item in json.loads(history.read_text())["deployments"]) < count:
        assert time.monotonic() < deadline, f"not {count} autoscale records after {seconds}s"
        time.sleep(0.5)


def test_a_variant_scales_out_under_load_and_back_in_with_no_failed_request(served, tmp_path):
    folder, port, settings = served
    client = docker.from_env()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    scaler = subprocess.Popen(["make", "--no-print-directory", "autoscale", *settings,
                               f"SCALING_POLICY={policy}", "AUTOSCALE_SECONDS=300"], cwd=REPO,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True, env=os.environ)
    clients = Clients(port, threads=4, body=BODY)
    waited = None
    try:
        threads = clients.start()
        wait_for(client, 2, 120)
        clients.wait_for(30, after=time.monotonic())  # the second instance under load
        clients.done.set()
        for thread in threads:
            thread.join(timeout=40)
        wait_for(client, 1, 120)
        # The container goes before the scale-in is recorded; a SIGTERM in between cuts it off.
        recorded(folder, 2, 60)
    except AssertionError as error:
        waited = error
    finally:
        clients.done.set()
        os.killpg(scaler.pid, signal.SIGTERM)
        said = scaler.communicate(timeout=60)[0]
    assert waited is None, f"{waited}; make autoscale said:\n{said}"
    assert "scaling v1 out from 1 to 2" in said, said
    assert "scaling v1 in from 2 to 1" in said, said
    assert not clients.failed(), clients.failed()[:5]
    assert clients.connections() == 4, "a client lost its kept connection"
    history = json.loads((folder / "endpoint" / "penguins" / "deployments.json").read_text())
    assert [item["action"] for item in history["deployments"]] == ["serve", "autoscale",
                                                                     "autoscale"]
