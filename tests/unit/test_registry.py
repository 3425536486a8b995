"""The local model registry: condition thresholds, numbering, resolution."""

import json

import pytest

from training import registry

pytestmark = pytest.mark.training


def evaluation(tmp_path, accuracy, name="evaluation.json"):
    path = tmp_path / name
    metrics = {"multiclass_classification_metrics": {"accuracy": {"value": accuracy}}}
    path.write_text(json.dumps(metrics))
    return path


@pytest.fixture
def model_tar(tmp_path):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"not really a tarball, the registry only copies it")
    return path


@pytest.mark.parametrize(
    ("accuracy", "status"),
    [(0.97, registry.APPROVED), (0.70, registry.APPROVED), (0.69, registry.PENDING),
     (0.50, registry.PENDING)],
)
def test_status_follows_thresholds(accuracy, status):
    assert registry.approval_status(accuracy, 0.70, 0.50) == status


def test_below_threshold_names_accuracy_and_threshold():
    with pytest.raises(registry.RegistryError, match=r"0\.4900.*0\.50"):
        registry.approval_status(0.49, 0.70, 0.50)


def test_versions_are_numbered_and_latest_approved_is_served(tmp_path, model_tar):
    group = tmp_path / "registry" / "penguins"
    first = registry.register(group, model_tar, evaluation(tmp_path, 0.9), {"epochs": "5"},
                              0.7, 0.5)
    second = registry.register(group, model_tar, evaluation(tmp_path, 0.6), {}, 0.7, 0.5)
    assert (first["version"], first["approval_status"]) == (1, registry.APPROVED)
    assert (second["version"], second["approval_status"]) == (2, registry.PENDING)
    assert first["model_sha256"] == registry.sha256(model_tar)
    assert first["hyperparameters"] == {"epochs": "5"}
    assert registry.resolve(group) == group / "1" / "model.tar.gz"
    assert registry.resolve(group, 2) == group / "2" / "model.tar.gz"
    assert (group / "1" / "model.tar.gz").read_bytes() == model_tar.read_bytes()


def test_failed_condition_registers_nothing(tmp_path, model_tar):
    group = tmp_path / "penguins"
    assert registry.main(["--group-dir", str(group), "register", "--model", str(model_tar),
                          "--evaluation", str(evaluation(tmp_path, 0.3)),
                          "--hyperparameters", str(evaluation(tmp_path, 0, "hp.json"))]) == 1
    assert registry.versions(group) == []
    assert not group.exists() or not any(group.iterdir())


def test_resolve_without_approved_version_fails(tmp_path, model_tar):
    group = tmp_path / "penguins"
    registry.register(group, model_tar, evaluation(tmp_path, 0.6), {}, 0.7, 0.5)
    with pytest.raises(registry.RegistryError, match="no Approved version"):
        registry.resolve(group)
    with pytest.raises(registry.RegistryError, match="no version 7"):
        registry.resolve(group, 7)


def test_unreadable_evaluation_is_named(tmp_path, model_tar):
    bad = tmp_path / "evaluation.json"
    bad.write_text("{}")
    with pytest.raises(registry.RegistryError, match="evaluation.json has no"):
        registry.register(tmp_path / "g", model_tar, bad, {}, 0.7, 0.5)
