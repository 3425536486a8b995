"""The router keeps its clients' connections, and make deploy and make rollback still lose no
request: four clients, each over one kept HTTP/1.1 connection and never retrying, send through
both updates; none fails and none has to open a second connection."""

import json

import pytest
from keepalive import Clients, register_version, serving

from harness import compose_project, free_port

# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("router_keepalive")
BODY = json.dumps([{"island": "Dream", "bill_length_mm": 46.5, "bill_depth_mm": 17.9,
                    "flipper_length_mm": 192, "body_mass_g": 3500, "sex": "female"}])


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    """Version 1 served on one colour, version 2 (another archive) registered and Approved."""
    folder = tmp_path_factory.mktemp("local")
    port = free_port()
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={PROJECT}", f"ENDPOINT_PORT={port}",
                f"METRICS_PORT={free_port()}"]
    register_version(folder, tiny_model_dir, "1")
    with serving(PROJECT, settings):
        register_version(folder, tiny_model_dir, "2")
        yield port, settings


@pytest.mark.parametrize("target, said", [("deploy", "version 2 is live on green"),
                                          ("rollback", "version 1 is live on blue")])
def test_an_update_keeps_every_client_connection_and_fails_no_request(served, target, said):
    port, settings = served
    clients = Clients(port, threads=4, body=BODY)
    done, began, ended = clients.during(target, *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert said in done.stdout
    assert not clients.failed(), clients.failed()[:5]
    assert clients.count_between(began, ended) > 0, "no request during the update to tell"
    assert clients.connections() == 4, "a client lost its kept connection"
    assert {outcome.variant for outcome in clients.outcomes} == {"AllTraffic"}
