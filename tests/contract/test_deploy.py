"""make serve, deploy, rollback and invoke: blue/green updates with no failed request, and errors
in plain words.

One endpoint goes through the steps of an update: serve version 1, deploy version 2, deploy it
again, roll back to 1, roll back once more. Each step is a fixture that takes the one before, and
each test reads what its step did, so any test passes alone or in any order.
"""

import json
from pathlib import Path

import pytest
import requests
from keepalive import MARGIN, Clients, make, message, register_archive

from harness import free_port, remove_project, train

# One record of each species: a mix of two models in one answer would show in a list of three.
RECORDS = [
    {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
     "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"},
    {"island": "Dream", "bill_length_mm": 46.5, "bill_depth_mm": 17.9,
     "flipper_length_mm": 192, "body_mass_g": 3500, "sex": "female"},
    {"island": "Biscoe", "bill_length_mm": 48.6, "bill_depth_mm": 16.0,
     "flipper_length_mm": 230, "body_mass_g": 5800, "sex": "male"},
]
BODY = json.dumps(RECORDS)


@pytest.fixture(scope="module")
def second_model(docker_client, processed, tmp_path_factory) -> Path:
    """A second real model, trained with other hyperparameters: other probabilities."""
    root = tmp_path_factory.mktemp("training-other")
    result = train(docker_client, root, processed, {"epochs": "3", "seed": "7"})
    assert result.exit_code == 0, result.logs
    return root / "output" / "model.tar.gz"


def registered(trained: Path, folder: Path, project: str) -> tuple[Path, int, list[str]]:
    """A LOCAL_DIR with version 1 registered, a free port: (folder, port, make's settings)."""
    register_archive(folder, trained / "output" / "model.tar.gz")
    port = free_port()
    return folder, port, [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={project}",
                          f"ENDPOINT_PORT={port}"]


@pytest.fixture(scope="module")
def local(trained, tmp_path_factory, compose_project):
    """The LOCAL_DIR, port and compose project of the endpoint the updates go through."""
    folder, port, settings = registered(trained, tmp_path_factory.mktemp("local"),
                                        compose_project)
    try:
        yield folder, port, settings
    finally:
        make("stop", *settings)


def answer(port: int) -> list:
    reply = requests.post(f"http://127.0.0.1:{port}/invocations", data=BODY, timeout=30,
                          headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    return reply.json()


def check_update(clients: Clients, began: float, ended: float, old: list, new: list) -> None:
    """No failure and no connection lost; each answer wholly the old or the new model's; only
    the new one's after."""
    failed = clients.failed()
    assert not failed, f"{len(failed)} of {len(clients.outcomes)} requests failed: {failed[:5]}"
    assert clients.count_between(began, ended) >= MARGIN, \
        "too few requests during the update to tell"
    assert clients.connections() == clients.count, "a client lost its kept connection"
    answers = [(outcome.sent, json.loads(outcome.body)) for outcome in clients.outcomes]
    mixed = [body for _, body in answers if body not in (old, new)]
    assert not mixed, f"answers from neither model: {mixed[:3]}"
    stale = [body for sent, body in answers if sent > ended and body != new]
    assert not stale, f"{len(stale)} answers of the old model after the update ended"


@pytest.fixture(scope="module")
def served(local):
    """Version 1 served; its answer to BODY."""
    folder, port, settings = local
    done = make("serve", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "registry/penguins/1/model.tar.gz" in done.stdout
    return answer(port)


@pytest.fixture(scope="module")
def deployed(local, served, second_model):
    """Version 2 registered and deployed under load: (make's result, its clients, began,
    ended, answer)."""
    folder, port, settings = local
    meta = register_archive(folder, second_model, {"epochs": "3"})
    assert meta["version"] == 2
    clients = Clients(port, threads=4, body=BODY)
    done, began, ended = clients.during("deploy", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, clients, began, ended, answer(port)


@pytest.fixture
def idle_project(compose_project):
    """A compose project with no endpoint (the module's endpoint is in compose_project)."""
    name = f"{compose_project}-idle"
    yield name
    remove_project(name)


def deployments(folder: Path) -> str:
    return (folder / "endpoint" / "penguins" / "deployments.json").read_text()


@pytest.fixture(scope="module")
def deployed_again(local, deployed):
    """make deploy once more with version 2 live: (make's result, the history before and after,
    the answer after)."""
    folder, port, settings = local
    before = deployments(folder)
    done = make("deploy", *settings)
    return done, before, deployments(folder), answer(port)


@pytest.fixture(scope="module")
def rolled_back(local, deployed, deployed_again):
    """make rollback under load, back to version 1: (make's result, its clients, began, ended)."""
    folder, port, settings = local
    clients = Clients(port, threads=4, body=BODY)
    done, began, ended = clients.during("rollback", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, clients, began, ended


@pytest.fixture(scope="module")
def rolled_back_again(local, rolled_back):
    """make rollback once more, past the first deployment: (make's result, the answer after)."""
    folder, port, settings = local
    done = make("rollback", *settings)
    return done, answer(port)


def test_invoke_with_no_endpoint_says_to_start_one():
    port = free_port()
    done = make("invoke", f"ENDPOINT_PORT={port}")
    assert done.returncode != 0
    assert message(done) == f"no endpoint on port {port}; start one with make serve"
    assert done.stdout == ""


def test_serve_of_a_missing_archive_names_it(tmp_path, idle_project):
    missing = tmp_path / "model.tar.gz"
    done = make("serve", f"LOCAL_DIR={tmp_path}", f"COMPOSE_PROJECT={idle_project}",
                f"ENDPOINT_PORT={free_port()}", f"MODEL_TAR={missing}")
    assert done.returncode != 0
    assert message(done) == (f"MODEL_TAR={missing}: no such file; give a model archive "
                             "(a training job's output/model.tar.gz)")


def test_deploy_with_no_endpoint_running_says_to_serve_first(trained, tmp_path, idle_project):
    # A LOCAL_DIR, port and project of its own: the module's endpoint may be running.
    folder, port, settings = registered(trained, tmp_path, idle_project)
    done = make("deploy", *settings)
    assert done.returncode != 0
    assert message(done) == (f"no endpoint is running on port {port}; "
                             "start one with make serve")


def test_deploy_switches_to_the_new_version_with_no_failed_request(deployed, served):
    done, clients, began, ended, new = deployed
    assert new != served, "the two models answer alike: the test could not tell them apart"
    check_update(clients, began, ended, old=served, new=new)
    assert "version 2 is live on green" in done.stdout


def test_deploy_of_the_live_version_changes_nothing(deployed, deployed_again):
    done, before, after, answered = deployed_again
    assert done.returncode == 0, done.stderr
    assert "is already live" in done.stdout and "nothing to do" in done.stdout
    assert after == before
    assert answered == deployed[-1]


def test_rollback_returns_to_the_previous_version_with_no_failed_request(local, served,
                                                                          deployed, rolled_back):
    folder, port, settings = local
    done, clients, began, ended = rolled_back
    check_update(clients, began, ended, old=deployed[-1], new=served)
    assert "version 1 is live on blue" in done.stdout
    history = json.loads((folder / "endpoint" / "penguins" / "deployments.json").read_text())
    assert [(item["action"], item["version"]) for item in history["deployments"]] == [
        ("serve", 1), ("deploy", 2), ("rollback", 1)]


def test_rollback_past_the_first_deployment_says_so(served, rolled_back_again):
    done, answered = rolled_back_again
    assert done.returncode != 0
    assert message(done) == ("nothing to roll back to: no deployment before version 1 "
                             "served another model")
    assert answered == served


def test_serve_of_a_file_that_is_no_archive_says_so_and_keeps_the_endpoint(local, served,
                                                                           tmp_path):
    folder, port, settings = local
    live = answer(port)  # whichever version the other tests left live
    text = tmp_path / "model.tar.gz"
    text.write_text("not a model\n")
    done = make("serve", *settings, f"MODEL_TAR={text}")
    assert done.returncode != 0
    assert message(done) == (f"MODEL_TAR={text}: this file is not a gzip tar of a model folder "
                             "(as a training job's output/model.tar.gz is)")
    assert answer(port) == live
    assert not (folder / "endpoint" / "penguins" / "blue" / ".model-new").exists()
