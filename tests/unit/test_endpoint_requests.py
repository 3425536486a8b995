"""The endpoint's SageMaker requests through `make job`'s command, in-process, with `make serve`
stood in for: CreateEndpointConfig kept, CreateEndpoint and UpdateEndpoint handed to `make serve
ENDPOINT_CONFIG=` (DEPLOYMENT_CONFIG= for an update's DeploymentConfig), DescribeEndpoint and
DescribeEndpointConfig through `make describe`; every mistake named by its JSON path, with
nothing changed."""

import json
from pathlib import Path

import pytest

from pipeline.endpoints import deployments, fleet
from pipeline.endpoints import requests as endpoints
from pipeline.endpoints.bluegreen import EndpointError
from pipeline.jobs import requests as command
from pipeline.workflow import handlers

pytestmark = pytest.mark.pipeline

CONFIG = {"EndpointConfigName": "tiny-config",
          "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "3",
                                  "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
                                  "InitialVariantWeight": 1.0}],
          "Tags": [{"Key": "team", "Value": "ml"}]}


@pytest.fixture
def served(monkeypatch, tmp_path) -> list:
    """Every `make serve` the requests ask for: its arguments and the files they name."""
    calls = []

    def fake(*arguments):
        given = dict(argument.split("=", 1) for argument in arguments[1:])
        calls.append({"target": arguments[0], **{key: json.loads(Path(path).read_text())
                                                 for key, path in given.items()}})
    monkeypatch.setattr(endpoints, "make", fake)
    monkeypatch.setenv("ENDPOINT_DIR", str(tmp_path / "local" / "endpoint" / "penguins"))
    return calls


def run(tmp_path: Path, body: dict) -> int:
    path = tmp_path / f"request-{len(list(tmp_path.glob('request-*')))}.json"
    path.write_text(json.dumps(body))
    return command.main(["--local", str(tmp_path / "local"), "job", str(path)])


def described(tmp_path: Path, name: str, capsys) -> dict:
    capsys.readouterr()
    assert command.main(["--local", str(tmp_path / "local"), "describe", name]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_endpoint_config_is_kept_and_described(tmp_path, capsys):
    assert run(tmp_path, CONFIG) == 0
    answer = described(tmp_path, "tiny-config", capsys)
    assert answer["EndpointConfigArn"].endswith(":000000000000:endpoint-config/tiny-config")
    assert answer["ProductionVariants"] == CONFIG["ProductionVariants"]
    assert "CreationTime" in answer and "Tags" not in answer
    assert described(tmp_path, answer["EndpointConfigArn"], capsys) == answer
    assert run(tmp_path, CONFIG) == 2  # names are unique, as on SageMaker
    assert "an endpoint config named tiny-config exists already" in capsys.readouterr().err


def config_with(**fields) -> dict:
    return {**CONFIG, **fields}


def variant_with(**fields) -> dict:
    return config_with(ProductionVariants=[{**CONFIG["ProductionVariants"][0], **fields}])


CONFIG_MISTAKES = [
    ("data capture", config_with(DataCaptureConfig={}),
     "DataCaptureConfig: data capture is the endpoint's own here"),
    ("shadow variants", config_with(ShadowProductionVariants=[]),
     "ShadowProductionVariants: shadow variants do not run here"),
    ("a typo", config_with(ProductionVariant=[]), "ProductionVariant: unknown field"),
    ("a bad name", config_with(EndpointConfigName="tiny config"),
     "EndpointConfigName: \"tiny config\" is not a SageMaker name"),
    ("a model that is nowhere", variant_with(ModelName="nowhere"),
     "ProductionVariants[0].ModelName: 'nowhere' is neither a registered version"),
    ("a serverless variant", variant_with(ServerlessConfig={}),
     "ProductionVariants[0].ServerlessConfig: not a field of a production variant here"),
]


@pytest.mark.parametrize("body,message", [case[1:] for case in CONFIG_MISTAKES],
                         ids=[case[0] for case in CONFIG_MISTAKES])
def test_an_endpoint_config_mistake_is_named_and_keeps_nothing(tmp_path, capsys, body, message):
    assert run(tmp_path, body) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "local" / endpoints.CONFIGS).exists()


def test_a_variant_may_name_a_kept_model_whose_archive_is_served(tmp_path, served, capsys):
    archive = tmp_path / "model.tar.gz"
    assert run(tmp_path, {"ModelName": "tiny-model", "PrimaryContainer": {
        "Image": "any:1", "ModelDataUrl": f"file://{archive}"}}) == 0
    assert run(tmp_path, variant_with(ModelName="tiny-model")) == 0
    assert run(tmp_path, {"EndpointName": "tiny-endpoint",
                          "EndpointConfigName": "tiny-config"}) == 0
    (call,) = served
    assert call["target"] == "serve"
    assert call["ENDPOINT_CONFIG"]["ProductionVariants"][0]["ModelName"] == str(archive)
    # The kept config stays as the request gave it: DescribeEndpointConfig echoes it.
    kept = described(tmp_path, "tiny-config", capsys)
    assert kept["ProductionVariants"][0]["ModelName"] == "tiny-model"


def registered(tmp_path: Path) -> Path:
    """Version 1 of the penguins group, by CreateModelPackage; the registry's archive of it."""
    archive, evaluation = tmp_path / "model.tar.gz", tmp_path / "evaluation.json"
    archive.write_bytes(b"")
    evaluation.write_text(json.dumps({"multiclass_classification_metrics": {
        "accuracy": {"value": 0.9}}}))
    assert run(tmp_path, {"ModelPackageGroupName": "penguins", "InferenceSpecification": {
        "Containers": [{"Image": "any:1", "ModelDataUrl": f"file://{archive}"}],
        "SupportedContentTypes": ["application/json"],
        "SupportedResponseMIMETypes": ["application/json"]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": f"file://{evaluation}"}}}}) == 0
    return tmp_path / "local" / "registry" / "penguins" / "1" / "model.tar.gz"


def test_a_variant_may_name_a_model_of_a_model_package_whose_versions_archive_is_served(
        tmp_path, served):
    archive = registered(tmp_path)
    assert run(tmp_path, {"ModelName": "penguins-v1", "PrimaryContainer": {
        "ModelPackageName": "penguins/1"}}) == 0
    assert run(tmp_path, variant_with(ModelName="penguins-v1")) == 0
    assert run(tmp_path, {"EndpointName": "tiny-endpoint",
                          "EndpointConfigName": "tiny-config"}) == 0
    (call,) = served
    assert call["ENDPOINT_CONFIG"]["ProductionVariants"][0]["ModelName"] == str(archive)


def test_the_deploy_lambda_creates_then_updates_the_endpoint_through_the_requests(
        tmp_path, served, monkeypatch, capsys):
    archive, local = registered(tmp_path), tmp_path / "local"
    monkeypatch.setenv("LOCAL_DIR", str(local))
    sent = []

    def make_job(target, request):  # make job REQUEST=…, in-process
        assert target == "job"
        sent.append(json.loads(Path(request.split("=", 1)[1]).read_text()))
        assert command.main(["--local", str(local), "job", request.split("=", 1)[1]]) == 0
    monkeypatch.setattr(handlers, "make", make_job)
    event = {"model_package_arn":
             "arn:aws:sagemaker:us-east-1:000000000000:model-package/penguins/1",
             "endpoint_name": "penguins-endpoint", "role": "arn:aws:iam::000000000000:role/r"}
    first = handlers.deploy(event, None)
    assert first["action"] == "CreateEndpoint" and first["model_package_version"] == "1"
    model, config, endpoint = sent
    assert model["PrimaryContainer"] == {"ModelPackageName": event["model_package_arn"]}
    assert config["ProductionVariants"][0]["ModelName"] == model["ModelName"]
    assert endpoint == {"EndpointName": "penguins-endpoint",
                        "EndpointConfigName": config["EndpointConfigName"]}
    assert served[0]["ENDPOINT_CONFIG"]["ProductionVariants"][0]["ModelName"] == str(archive)
    second = handlers.deploy(event, None)  # the pipeline run again: new names, an update
    assert second["action"] == "UpdateEndpoint" and len(served) == 2
    assert second["endpoint_config_name"] != first["endpoint_config_name"]
    assert described(tmp_path, "penguins-endpoint", capsys)["EndpointConfigName"] == \
        second["endpoint_config_name"]


def test_the_deploy_lambda_refuses_an_event_without_a_package_version():
    with pytest.raises(ValueError, match="model_package_arn 'penguins' is not a model package"):
        handlers.deploy({"model_package_arn": "penguins"}, None)


def test_a_kept_model_on_s3_is_refused_by_the_variant_that_names_it(tmp_path, capsys):
    assert run(tmp_path, {"ModelName": "s3-model", "PrimaryContainer": {
        "Image": "any:1", "ModelDataUrl": "s3://bucket/model.tar.gz"}}) == 0
    assert run(tmp_path, variant_with(ModelName="s3-model")) == 2
    assert ("ProductionVariants[0].ModelName: model s3-model's ModelDataUrl "
            "'s3://bucket/model.tar.gz' is not a file:// model.tar.gz") in capsys.readouterr().err


def test_create_then_update_endpoint_serve_each_config_through_make_serve(
        tmp_path, served, capsys):
    assert run(tmp_path, CONFIG) == 0
    assert run(tmp_path, {**CONFIG, "EndpointConfigName": "next-config"}) == 0
    endpoint = {"EndpointName": "tiny-endpoint", "EndpointConfigName": "tiny-config"}
    assert run(tmp_path, endpoint) == 0
    assert "CreateEndpoint: tiny-endpoint serves tiny-config (OutOfService)" in \
        capsys.readouterr().out
    canary = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 5}}}
    assert run(tmp_path, {**endpoint, "EndpointConfigName": "next-config",
                          "DeploymentConfig": canary}) == 0
    assert "UpdateEndpoint: tiny-endpoint serves next-config" in capsys.readouterr().out
    first, second = served
    assert first["ENDPOINT_CONFIG"]["EndpointConfigName"] == "tiny-config"
    assert "DEPLOYMENT_CONFIG" not in first
    assert second["ENDPOINT_CONFIG"]["EndpointConfigName"] == "next-config"
    assert second["DEPLOYMENT_CONFIG"] == canary
    answer = described(tmp_path, "tiny-endpoint", capsys)
    assert answer["EndpointArn"].endswith(":000000000000:endpoint/tiny-endpoint")
    assert (answer["EndpointConfigName"], answer["EndpointStatus"]) == ("next-config",
                                                                         "OutOfService")
    assert answer["ProductionVariants"][0]["VariantName"] == "AllTraffic"


def test_describe_endpoint_says_in_service_while_the_workloads_endpoint_is_live(
        tmp_path, served, capsys):
    assert run(tmp_path, CONFIG) == 0
    assert run(tmp_path, {"EndpointName": "tiny-endpoint",
                          "EndpointConfigName": "tiny-config"}) == 0
    folder = tmp_path / "local" / "endpoint" / "penguins"
    folder.mkdir(parents=True)
    history = deployments.load(folder)
    deployments.record(history, "serve", "blue", {"version": 3}, None)
    deployments.save(folder, history)
    assert described(tmp_path, "tiny-endpoint", capsys)["EndpointStatus"] == "InService"


UPDATE_MISTAKES = [
    ("no such config", {"EndpointConfigName": "nowhere-config"}, 2,
     "EndpointConfigName: no endpoint config nowhere-config"),
    ("a bad deployment config", {"DeploymentConfig": {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "SOMETIMES"}}}}, 2,
     "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.Type: 'SOMETIMES' "
     "is not one of ALL_AT_ONCE, CANARY, LINEAR"),
    ("retained properties", {"RetainAllVariantProperties": True}, 2,
     "RetainAllVariantProperties: nothing is retained here"),
    ("an endpoint never created", {"EndpointName": "other-endpoint",
                                   "RetainDeploymentConfig": False}, 2,
     "EndpointName: no endpoint named other-endpoint"),
]


@pytest.mark.parametrize("fields,code,message", [case[1:] for case in UPDATE_MISTAKES],
                         ids=[case[0] for case in UPDATE_MISTAKES])
def test_an_update_endpoint_mistake_is_named_and_serves_nothing(
        tmp_path, served, capsys, fields, code, message):
    assert run(tmp_path, CONFIG) == 0
    endpoint = {"EndpointName": "tiny-endpoint", "EndpointConfigName": "tiny-config"}
    assert run(tmp_path, endpoint) == 0
    assert run(tmp_path, {**endpoint, **fields}) == code
    assert message in capsys.readouterr().err
    assert len(served) == 1
    assert json.loads((tmp_path / "local" / "endpoints" / "tiny-endpoint.json").read_text())[
        "EndpointConfigName"] == "tiny-config"


def test_a_create_endpoint_that_make_serve_fails_keeps_no_endpoint(tmp_path, monkeypatch,
                                                                  capsys):
    def failing(*arguments):
        raise endpoints.ServeFailed("make serve failed (exit 2)")
    monkeypatch.setattr(endpoints, "make", failing)
    assert run(tmp_path, CONFIG) == 0
    assert run(tmp_path, {"EndpointName": "tiny-endpoint",
                          "EndpointConfigName": "tiny-config"}) == 1
    assert "make serve failed" in capsys.readouterr().err
    assert not (tmp_path / "local" / "endpoints" / "tiny-endpoint.json").exists()


PLAN = {"type": "CANARY", "size": 10.0, "wait": 5.0, "alarms": []}
MODEL = {"label": "version 4", "sha256": "new"}


def test_a_canary_update_moves_a_one_model_endpoint_with_make_deploys_shifting(monkeypatch):
    seen = []
    monkeypatch.setattr(fleet, "update", lambda *given: seen.append(given))
    current = {"id": 2, "colour": "blue", "sha256": "old"}
    fleet.shift_to("endpoint", {"live": 2}, current, [{"VariantName": "AllTraffic",
                                                       "model": MODEL}], PLAN)
    ((endpoint, history, live, model, action, previous, plan),) = seen
    assert (live, model, action, previous, plan) == (current, MODEL, "deploy", 2, PLAN)


def test_a_canary_update_to_several_variants_is_refused_before_anything_starts(monkeypatch):
    monkeypatch.setattr(fleet, "update", lambda *given: pytest.fail("nothing may start"))
    current = {"id": 2, "variants": [{"VariantName": "a"}, {"VariantName": "b"}]}
    with pytest.raises(EndpointError, match="canary and linear shifting .* move one model"):
        fleet.shift_to("endpoint", {}, current, [{"VariantName": "a", "model": MODEL}], PLAN)
