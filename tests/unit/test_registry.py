"""The local model registry: thresholds, numbering, damaged folders, races, approvals, lineage."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipeline.registry import models as registry

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture
def group(tmp_path):
    return tmp_path / "registry" / "penguins"


def add(group, model_tar, tmp_path, accuracy, **options):
    return registry.register(group, model_tar, evaluation(tmp_path, accuracy), {}, 0.7, 0.5,
                             **options)


def cli(group, *args, timeout=60):
    """The registry as make runs it: `python -m pipeline.registry.models` from the repository
    root."""
    return subprocess.run([sys.executable, "-m", "pipeline.registry.models", "--group-dir",
    str(group),
                           *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def register_args(tmp_path, model_tar, hyperparameters):
    return ["register", "--model", model_tar, "--evaluation", evaluation(tmp_path, 0.9),
            "--hyperparameters", hyperparameters]


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


def test_statuses_are_sagemakers_model_approval_statuses():
    assert set(registry.STATUSES) == {"Approved", "Rejected", "PendingManualApproval"}


def test_versions_are_numbered_and_latest_approved_is_served(tmp_path, group, model_tar):
    first = registry.register(group, model_tar, evaluation(tmp_path, 0.9), {"epochs": "5"},
                              0.7, 0.5)
    second = add(group, model_tar, tmp_path, 0.6)
    assert (first["version"], first["approval_status"]) == (1, registry.APPROVED)
    assert (second["version"], second["approval_status"]) == (2, registry.PENDING)
    assert first["model_sha256"] == registry.sha256(model_tar)
    assert first["hyperparameters"] == {"epochs": "5"}
    assert [meta["version"] for meta in registry.versions(group)] == [1, 2]
    assert registry.resolve(group) == group / "1" / "model.tar.gz"
    assert registry.resolve(group, 2) == group / "2" / "model.tar.gz"
    assert (group / "1" / "model.tar.gz").read_bytes() == model_tar.read_bytes()


def test_failed_condition_registers_nothing(tmp_path, group, model_tar):
    assert registry.main(["--group-dir", str(group), "register", "--model", str(model_tar),
                          "--evaluation", str(evaluation(tmp_path, 0.3)),
                          "--hyperparameters", str(evaluation(tmp_path, 0, "hp.json"))]) == 1
    assert registry.versions(group) == []
    assert not group.exists() or not any(group.iterdir())


def test_resolve_without_approved_version_fails(tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.6)
    with pytest.raises(registry.RegistryError, match="no Approved version"):
        registry.resolve(group)
    with pytest.raises(registry.RegistryError, match=r"no version 7 \(registered versions: 1\)"):
        registry.resolve(group, 7)


def test_unreadable_evaluation_is_named(tmp_path, model_tar):
    bad = tmp_path / "evaluation.json"
    bad.write_text("{}")
    with pytest.raises(registry.RegistryError, match="evaluation.json has no"):
        registry.register(tmp_path / "g", model_tar, bad, {}, 0.7, 0.5)


def test_register_after_a_folder_without_metadata_takes_the_next_number(
        tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    (group / "2").mkdir()  # e.g. a copy cut short: an archive but no metadata.json
    (group / "2" / "model.tar.gz").write_bytes(b"half an archive")
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text("{}")
    # Registering used to loop forever here; the timeout turns that into a failure.
    done = cli(group, *register_args(tmp_path, model_tar, hyperparameters), timeout=30)
    assert done.returncode == 0, done.stderr
    assert "registered version 3 as Approved" in done.stdout
    assert (group / "3" / "metadata.json").is_file()


def test_listing_names_a_damaged_folder_and_still_lists_the_others(tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    (group / "2").mkdir()
    add(group, model_tar, tmp_path, 0.6)
    (group / "3" / "metadata.json").write_text('{"version": 3, "approval_st')
    done = cli(group, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("1\tApproved\taccuracy=0.9000")
    assert lines[1].startswith("2\tdamaged: ") and "no metadata.json" in lines[1]
    assert lines[2].startswith("3\tdamaged: ") and str(group / "3" / "metadata.json") in lines[2]
    assert len(lines) == 3


def test_corrupt_metadata_is_a_registry_error_naming_the_file(tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    (group / "1" / "metadata.json").write_text("{not json")
    with pytest.raises(registry.RegistryError, match=r"1/metadata\.json: cannot read"):
        registry.versions(group)
    done = cli(group, "resolve")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "1/metadata.json" in done.stderr, done.stderr


def test_metadata_of_another_version_is_refused(tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    (group / "1").rename(group / "4")
    with pytest.raises(registry.RegistryError, match="version is 1, not the folder's 4"):
        registry.versions(group)


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"],
                         ids=["missing", "not JSON", "not an object"])
def test_bad_hyperparameters_file_is_one_line_naming_it(tmp_path, group, model_tar, content):
    hyperparameters = tmp_path / "hyperparameters.json"
    if content is not None:
        hyperparameters.write_text(content)
    done = cli(group, *register_args(tmp_path, model_tar, hyperparameters))
    assert done.returncode == 1
    assert done.stderr.startswith(f"registry: {hyperparameters}: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert registry.versions(group) == []


def test_concurrent_registrations_get_distinct_consecutive_complete_versions(tmp_path, group):
    count = 12
    models = []
    for index in range(count):
        path = tmp_path / f"model-{index}.tar.gz"
        path.write_bytes(f"model {index}".encode() * 1000)
        models.append(path)
    metrics = evaluation(tmp_path, 0.9)
    start = threading.Barrier(count)
    results, errors = [], []

    def one(model):
        start.wait()
        try:
            results.append(registry.register(group, model, metrics, {}, 0.7, 0.5))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(model,)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == count
    assert sorted(meta["version"] for meta in results) == list(range(1, count + 1))
    assert sorted(entry.name for entry in group.iterdir()) == sorted(map(str, range(1, count + 1)))
    stored = set()
    for meta in registry.versions(group):
        folder = group / str(meta["version"])
        assert sorted(entry.name for entry in folder.iterdir()) == ["metadata.json", "model.tar.gz"]
        assert registry.sha256(folder / "model.tar.gz") == meta["model_sha256"]
        stored.add(meta["model_sha256"])
    assert stored == {registry.sha256(model) for model in models}


def test_approve_and_reject_record_who_and_when(tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    add(group, model_tar, tmp_path, 0.6)
    assert registry.resolve(group) == group / "1" / "model.tar.gz"

    meta, changed = registry.set_status(group, 2, registry.APPROVED, "alice", "checked by hand")
    assert changed and meta["approval_status"] == registry.APPROVED
    entry = meta["approval_history"][-1]
    assert (entry["status"], entry["by"], entry["description"]) == ("Approved", "alice",
                                                                    "checked by hand")
    assert entry["at"].endswith("+00:00")
    assert json.loads((group / "2" / "metadata.json").read_text()) == meta
    assert registry.resolve(group) == group / "2" / "model.tar.gz"

    registry.set_status(group, 2, registry.REJECTED, "bob")
    assert registry.resolve(group) == group / "1" / "model.tar.gz"
    meta, _ = registry.set_status(group, 2, registry.APPROVED, "carol")
    assert [(step["status"], step["by"]) for step in meta["approval_history"][1:]] == [
        ("Approved", "alice"), ("Rejected", "bob"), ("Approved", "carol")]
    assert meta["approval_history"][0]["status"] == registry.PENDING


def test_same_status_again_changes_nothing(tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    before = (group / "1" / "metadata.json").read_text()
    done = cli(group, "approve", "--version", 1, "--by", "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "version 1 is already Approved; nothing changed\n"
    assert (group / "1" / "metadata.json").read_text() == before


def test_cli_reject_defaults_to_the_login_name(tmp_path, group, model_tar, monkeypatch):
    add(group, model_tar, tmp_path, 0.9)
    monkeypatch.setattr(registry.getpass, "getuser", lambda: "dana")
    assert registry.main(["--group-dir", str(group), "reject", "--version", "1"]) == 0
    meta = registry.versions(group)[0]
    assert meta["approval_status"] == registry.REJECTED
    assert meta["approval_history"][-1]["by"] == "dana"


@pytest.mark.parametrize(("version", "message"), [
    ("9", "no version 9 (registered versions: 1, 2)"),
    ("x", "version 'x' is not a whole number"),
])
def test_approving_an_unknown_version_names_it_and_the_known_ones(
        tmp_path, group, model_tar, version, message):
    add(group, model_tar, tmp_path, 0.9)
    add(group, model_tar, tmp_path, 0.6)
    done = cli(group, "approve", "--version", version)
    assert done.returncode == 1
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_concurrent_status_changes_keep_every_history_entry_and_whole_files(
        tmp_path, group, model_tar):
    add(group, model_tar, tmp_path, 0.9)
    metadata = group / "1" / "metadata.json"
    changes, unreadable, done = [], [], threading.Event()

    def toggle(name):
        for _ in range(40):
            for status in (registry.REJECTED, registry.APPROVED):
                if registry.set_status(group, 1, status, name)[1]:
                    changes.append(status)

    def read():
        while not done.is_set():
            try:
                json.loads(metadata.read_text())
            except ValueError as error:
                unreadable.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    togglers = [threading.Thread(target=toggle, args=(name,)) for name in ("ann", "ben")]
    for thread in togglers:
        thread.start()
    for thread in togglers:
        thread.join(timeout=60)
    done.set()
    reader.join(timeout=60)
    assert unreadable == []
    history = json.loads(metadata.read_text())["approval_history"]
    assert len(history) == 1 + len(changes) and changes
    statuses = [entry["status"] for entry in history]
    assert sorted(statuses[1:]) == sorted(changes)
    assert all(one != other for one, other in zip(statuses, statuses[1:], strict=False))


def test_a_failed_metadata_write_leaves_the_old_file_and_no_temporary(
        tmp_path, group, model_tar, monkeypatch):
    add(group, model_tar, tmp_path, 0.9)
    before = (group / "1" / "metadata.json").read_text()

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        registry.set_status(group, 1, registry.REJECTED, "alice")
    assert (group / "1" / "metadata.json").read_text() == before
    assert sorted(entry.name for entry in (group / "1").iterdir()) == [
        "metadata.json", "model.tar.gz"]


def test_lineage_is_stored_and_listed(tmp_path, group, model_tar):
    lineage = {"processing": "penguins-process-1", "training": "penguins-train-2"}
    assert add(group, model_tar, tmp_path, 0.9, lineage=lineage)["lineage"] == lineage
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text("{}")
    done = cli(group, *register_args(tmp_path, model_tar, hyperparameters),
               "--lineage", "training=penguins-train-3", "--lineage", "evaluation=penguins-eval-4")
    assert done.returncode == 0, done.stderr
    assert registry.versions(group)[1]["lineage"] == {"training": "penguins-train-3",
                                                      "evaluation": "penguins-eval-4"}
    listed = cli(group, "list").stdout.splitlines()
    assert [line.rsplit("\t", 1)[-1] for line in listed] == ["training=penguins-train-2",
                                                             "training=penguins-train-3"]


@pytest.mark.parametrize("pair", ["training", "=run", "training=a --lineage training=b"])
def test_malformed_lineage_registers_nothing(tmp_path, group, model_tar, pair):
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text("{}")
    lineage = [arg for part in pair.split(" --lineage ") for arg in ("--lineage", part)]
    done = cli(group, *register_args(tmp_path, model_tar, hyperparameters), *lineage)
    assert done.returncode == 1
    assert "STEP=RUN-NAME" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert registry.versions(group) == []
