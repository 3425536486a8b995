"""UpdateEndpoint with a new EndpointConfig: `make serve` on a running endpoint moves it to a
config of other production variants (added, removed, the same names on new instances, back to
one model) under four keep-alive clients, with no failed request and no connection reopened.

One endpoint for the module, its tests in file order: version 2 alone (AllTraffic), then
`v1:90 v2:10`, then `v1:50 v2:50:2` (the same names), then version 1 alone again.
"""

import json
from collections import Counter

import pytest
from keepalive import Clients, make, register_version, serving

from harness import compose_project, free_port

# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("update_endpoint")
RECORD = {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
          "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"}


@pytest.fixture(scope="module")
def endpoint(tiny_model_dir, tmp_path_factory):
    """Versions 1 and 2 registered (two archives of one model) and version 2 served alone."""
    folder = tmp_path_factory.mktemp("local")
    for number in (1, 2):
        register_version(folder, tiny_model_dir, str(number))
    port = free_port()
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={PROJECT}", f"ENDPOINT_PORT={port}",
                f"METRICS_PORT={free_port()}"]
    with serving(PROJECT, settings):
        yield folder, port, settings


def services(docker_client) -> Counter:
    return Counter(container.labels["com.docker.compose.service"]
                   for container in docker_client.containers.list(filters={
                       "label": f"com.docker.compose.project={PROJECT}"}))


def served_under_load(port: int, settings: list[str], *args: str) -> tuple[Counter, Counter]:
    """`make serve *args` under four keep-alive clients, none failing nor reconnecting: the
    variants that answered before it began and after it ended."""
    clients = Clients(port, threads=4, body=json.dumps(RECORD))
    done, began, ended = clients.during(*settings, "serve", *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "UpdateEndpoint: " in done.stdout, done.stdout
    assert not clients.failed(), clients.failed()[:5]
    assert clients.count_between(began, ended) > 0, "no request during the change to tell"
    assert clients.connections() == 4, "a client lost its kept connection"
    before = Counter(outcome.variant for outcome in clients.outcomes if outcome.sent < began)
    return before, Counter(outcome.variant for outcome in clients.sent_after(ended))


def live(folder) -> dict:
    history = json.loads((folder / "endpoint" / "penguins" / "deployments.json").read_text())
    return next(item for item in history["deployments"] if item["id"] == history["live"])


def test_one_model_to_two_variants_loses_no_request(endpoint, docker_client):
    folder, port, settings = endpoint
    assert services(docker_client) == {"router": 1, "blue": 1}
    before, after = served_under_load(port, settings, "VARIANTS=v1:90 v2:10")
    assert set(before) == {"AllTraffic"} and set(after) <= {"v1", "v2"}, (before, after)
    assert services(docker_client) == {"router": 1, "variant-v1": 1, "variant-v2": 1}
    item = live(folder)
    assert item["action"] == "serve" and item["previous"] == 1
    assert [(variant["VariantName"], variant["version"]) for variant in item["variants"]] == \
        [("v1", 1), ("v2", 2)]


def test_the_same_variant_names_start_on_new_instances(endpoint, docker_client):
    folder, port, settings = endpoint
    _, after = served_under_load(port, settings, "VARIANTS=v1:50 v2:50:2")
    assert set(after) <= {"v1", "v2"}, after
    # The live v1 and v2 kept their containers until the new ones took the traffic.
    assert services(docker_client) == {"router": 1, "variant-v1_1": 1, "variant-v2_1": 2}
    model = folder / "endpoint" / "penguins" / "variants" / "v2_1" / "model"
    assert (model / "note.txt").read_text() == "2"
    routes = (folder / "endpoint" / "penguins" / "router" / "upstream.conf").read_text()
    assert "variant-v1_1:8080" in routes and "server variant-v1:" not in routes, routes


def test_two_variants_back_to_one_model_loses_no_request(endpoint, docker_client):
    folder, port, settings = endpoint
    _, after = served_under_load(port, settings, "MODEL_VERSION=1")
    assert set(after) == {"AllTraffic"}, after
    assert services(docker_client) == {"router": 1, "blue": 1}
    assert not (folder / "endpoint" / "penguins" / "variants.json").exists()
    item = live(folder)
    assert (item["action"], item["colour"], item["version"]) == ("serve", "blue", 1)
    done = make("stop", *settings)
    assert done.returncode == 0, done.stderr
    assert services(docker_client) == {}
