"""Deployment guardrails (UpdateEndpoint's DeploymentConfig): a canary of a model that fails is
rolled back by its alarm on its own, no connection lost and only the canary's answers failed;
a linear deploy of a good model shifts in steps and fails no request. Then the same onto one
production variant of an endpoint of two: the alarm reads that variant's metrics, and the other
variant never sees the change."""

import json
from collections import Counter
from pathlib import Path

import pytest
from keepalive import Clients, archive, make, message, register_version, serving

from pipeline.registry import models as registry

from harness import compose_project, free_port

# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("guardrails")
BODY = json.dumps({"island": "Biscoe", "bill_length_mm": 48.6, "bill_depth_mm": 16.0,
                   "flipper_length_mm": 230, "body_mass_g": 5800, "sex": "male"})
FAILING = "def transform_fn(model, body, content_type, accept):\n" \
          "    raise RuntimeError('this model fails every record')\n"
ALARM = {"AlarmName": "errors", "MetricName": "Invocation5XXErrors",
         "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0}


def deployment_config(folder, routing: dict) -> str:
    path = folder / f"deployment-{routing['Type'].lower()}.json"
    path.write_text(json.dumps({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing},
                                "AutoRollbackConfiguration": {"Alarms": [ALARM]}}))
    return f"DEPLOYMENT_CONFIG={path}"


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={PROJECT}",
                f"ENDPOINT_PORT={free_port()}"]
    register_version(folder, tiny_model_dir, "1")
    with serving(PROJECT, settings):
        yield folder, folder / "registry" / "penguins", folder / "evaluation.json", settings


def register_failing(group, evaluation, model: Path, tmp_path: Path, note: str) -> None:
    """The served model with a handler that fails every record, registered (Approved)."""
    broken = tmp_path / "model"
    broken.mkdir()
    for item in model.iterdir():
        if item.is_file():
            (broken / item.name).write_bytes(item.read_bytes())
    (broken / "code").mkdir()
    (broken / "code" / "inference.py").write_text(FAILING)
    registry.register(group, archive(broken, tmp_path / "broken.tar.gz", note), evaluation, {},
                      0.7, 0.5)


def test_a_failing_canary_is_rolled_back_by_its_alarm(served, tmp_path):
    folder, group, evaluation, settings = served
    register_failing(group, evaluation, folder / "endpoint" / "penguins" / "blue" / "model",
                     tmp_path, "2")
    history = (folder / "endpoint" / "penguins" / "deployments.json").read_text()
    port = int(settings[2].split("=")[1])
    clients = Clients(port, threads=4, body=BODY)
    done, began, ended = clients.during("deploy", *settings, deployment_config(folder, {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        "WaitIntervalInSeconds": 120}))
    assert done.returncode != 0, done.stdout
    said = message(done)
    assert said.startswith("deploy rolled back: alarm errors fired (Invocation5XXErrors "), said
    assert said.endswith("with 50% of the traffic on green; version 1 is live on blue again")
    assert ended - began < 100, "the alarm did not cut the 120 s baking period short"
    failed = clients.failed()
    assert failed, "the canary answered no request: the test could not tell"
    assert all(outcome.status is not None and outcome.status >= 500 for outcome in failed), \
        failed[:5]
    assert not [outcome for outcome in clients.sent_after(ended) if outcome.status != 200]
    assert clients.connections() == 4, "a client lost its kept connection"
    assert (folder / "endpoint" / "penguins" / "deployments.json").read_text() == history


def test_a_linear_deploy_of_a_good_model_shifts_in_steps_and_fails_no_request(served):
    folder, group, evaluation, settings = served
    register_version(folder, folder / "endpoint" / "penguins" / "blue" / "model", "3")
    port = int(settings[2].split("=")[1])
    clients = Clients(port, threads=4, body=BODY)
    done, began, ended = clients.during("deploy", *settings, deployment_config(folder, {
        "Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        "WaitIntervalInSeconds": 3}))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "deploy: 50% of the traffic on green" in done.stdout
    assert "deploy: 100% of the traffic on green" in done.stdout
    assert "version 3 is live on green" in done.stdout
    assert not clients.failed(), clients.failed()[:5]
    assert clients.connections() == 4, "a client lost its kept connection"


def test_a_deployment_config_that_cannot_be_used_names_its_field(served, tmp_path):
    _, _, _, settings = served
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 60}}}))
    done = make("deploy", *settings, f"DEPLOYMENT_CONFIG={path}")
    assert done.returncode != 0
    assert message(done) == (
        f"DEPLOYMENT_CONFIG={path}: BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize."
        "Type: 'INSTANCE_COUNT'; only CAPACITY_PERCENT here (an instance count has one instance "
        "per colour to count)")


def services(docker_client) -> Counter:
    return Counter(container.labels["com.docker.compose.service"]
                   for container in docker_client.containers.list(filters={
                       "label": f"com.docker.compose.project={PROJECT}"}))


def test_a_failing_canary_onto_one_variant_is_rolled_back_by_its_alarm(served, tmp_path,
                                                                       docker_client):
    folder, group, evaluation, settings = served
    done = make("serve", *settings, "VARIANTS=v1:50 v3:50")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    register_failing(group, evaluation,
                     folder / "endpoint" / "penguins" / "variants" / "v3" / "model", tmp_path,
                     "4")
    history = (folder / "endpoint" / "penguins" / "deployments.json").read_text()
    port = int(settings[2].split("=")[1])
    clients = Clients(port, threads=4, body=BODY)
    done, began, ended = clients.during("deploy", *settings, "VARIANT=v1", deployment_config(
        folder, {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                 "WaitIntervalInSeconds": 120}))
    assert done.returncode != 0, done.stdout
    said = message(done)
    assert said.startswith("deploy rolled back: alarm errors fired (Invocation5XXErrors "), said
    assert "with 50% of variant v1's traffic on version 4 " in said, said
    assert said.endswith("; version 1 is live on variant v1 again"), said
    assert ended - began < 100, "the alarm did not cut the 120 s baking period short"
    failed = clients.failed()
    assert failed, "the canary answered no request: the test could not tell"
    assert all(outcome.status is not None and outcome.status >= 500 and outcome.variant == "v1"
               for outcome in failed), failed[:5]
    assert Counter(outcome.variant for outcome in clients.outcomes)["v3"] > 0
    assert not [outcome for outcome in clients.sent_after(ended) if outcome.status != 200]
    assert clients.connections() == 4, "a client lost its kept connection"
    assert (folder / "endpoint" / "penguins" / "deployments.json").read_text() == history
    assert services(docker_client) == {"router": 1, "variant-v1": 1, "variant-v3": 1}


def test_a_linear_deploy_onto_one_variant_fails_no_request(served, docker_client):
    folder, group, evaluation, settings = served
    register_version(folder, folder / "endpoint" / "penguins" / "variants" / "v3" / "model", "5")
    port = int(settings[2].split("=")[1])
    clients = Clients(port, threads=4, body=BODY)
    done, _, ended = clients.during("deploy", *settings, "VARIANT=v3", deployment_config(
        folder, {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                 "WaitIntervalInSeconds": 3}))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "deploy: 50% of variant v3's traffic on its new instances" in done.stdout
    assert "deploy: 100% of variant v3's traffic on its new instances" in done.stdout
    assert not clients.failed(), clients.failed()[:5]
    assert clients.connections() == 4, "a client lost its kept connection"
    assert set(Counter(outcome.variant for outcome in clients.sent_after(ended))) <= {"v1", "v3"}
    assert services(docker_client) == {"router": 1, "variant-v1": 1, "variant-v3_1": 1}
