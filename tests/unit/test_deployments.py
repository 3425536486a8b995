"""The endpoint's deployment history: which colour is idle, what a rollback goes back to."""

import json

import pytest

from pipeline.endpoints import deployments
from pipeline.endpoints.deployments import HistoryError

pytestmark = pytest.mark.pipeline


def model(version: int, sha: str | None = None) -> dict:
    return {"version": version, "archive": f"/registry/{version}/model.tar.gz",
            "sha256": sha or f"sha-of-{version}"}


def went_live(history: dict, action: str, item: dict, previous: int | None) -> dict:
    colour = deployments.idle_colour(deployments.live(history))
    return deployments.record(history, action, colour, item, previous)


def rolled_back(history: dict) -> dict:
    target = deployments.rollback_target(history)
    return went_live(history, "rollback", {key: target[key] for key in model(0)},
                     target["previous"])


def test_deploys_alternate_colours_and_remember_what_was_live_before():
    history = {"live": None, "deployments": []}
    first = went_live(history, "serve", model(1), None)
    second = went_live(history, "deploy", model(2), first["id"])
    assert (first["colour"], second["colour"]) == ("blue", "green")
    assert deployments.live(history) == second and second["previous"] == first["id"]


def test_each_rollback_goes_one_deployment_further_back_until_there_is_none():
    history = {"live": None, "deployments": []}
    went_live(history, "serve", model(1), None)
    for version in (2, 3):
        went_live(history, "deploy", model(version), history["live"])
    assert [rolled_back(history)["version"] for _ in range(2)] == [2, 1]
    with pytest.raises(HistoryError, match="nothing to roll back to: no deployment before "
                                           "version 1 served another model"):
        deployments.rollback_target(history)
    # A deploy after the rollbacks can be rolled back to where they ended.
    went_live(history, "deploy", model(3), history["live"])
    assert rolled_back(history)["version"] == 1


def test_a_rollback_skips_earlier_deployments_of_the_live_archive():
    history = {"live": None, "deployments": []}
    went_live(history, "serve", model(1), None)
    went_live(history, "serve", {**model(1), "version": None}, history["live"])
    went_live(history, "deploy", model(2), history["live"])
    went_live(history, "deploy", model(9, sha="sha-of-2"), history["live"])
    assert deployments.rollback_target(history)["sha256"] == "sha-of-1"


def test_no_rollback_when_nothing_is_live():
    history = {"live": None, "deployments": []}
    went_live(history, "serve", model(1), None)
    history["live"] = None  # make stop
    with pytest.raises(HistoryError, match="no deployment is live"):
        deployments.rollback_target(history)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"live": 1}'])
def test_an_unreadable_history_is_named_with_what_to_do(tmp_path, content):
    (tmp_path / deployments.FILE).write_text(content)
    with pytest.raises(HistoryError, match=f"{tmp_path / deployments.FILE}: cannot read .* "
                                           "move it away and start again with make serve"):
        deployments.load(tmp_path)


def test_the_history_is_saved_whole_and_read_back(tmp_path):
    history = {"live": None, "deployments": []}
    went_live(history, "serve", model(1), None)
    deployments.save(tmp_path, history)
    assert deployments.load(tmp_path) == history
    assert json.loads((tmp_path / deployments.FILE).read_text())["live"] == 1
    assert deployments.load(tmp_path / "nothing-yet") == {"live": None, "deployments": []}
