"""The local model registry: numbered model versions with metrics, lineage and approval status.

Mirrors what the SageMaker model registry keeps for a model package group, on a folder:
<group>/<version>/{model.tar.gz, metadata.json}. Host-only and standard library only, so make
runs it as `python3 -m pipeline.registry.models` from the repository root.
"""

import argparse
import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipeline.runs import files, hooks

# SageMaker's ModelApprovalStatus values, exactly.
APPROVED, REJECTED, PENDING = "Approved", "Rejected", "PendingManualApproval"
STATUSES = (APPROVED, REJECTED, PENDING)
METADATA, ARCHIVE = "metadata.json", "model.tar.gz"


class RegistryError(Exception):
    """A registry operation that cannot be done, with the reason for the user."""


def approval_status(accuracy: float, approve_at: float, pending_at: float) -> str:
    """The status a model with this accuracy is registered with, or RegistryError."""
    if accuracy >= approve_at:
        return APPROVED
    if accuracy >= pending_at:
        return PENDING
    raise RegistryError(
        f"accuracy {accuracy:.4f} is below the registration threshold {pending_at:.2f}; "
        "nothing was registered"
    )


def read_accuracy(evaluation: dict, source: str) -> float:
    """The accuracy of a SageMaker model-quality evaluation.json."""
    try:
        value = evaluation["multiclass_classification_metrics"]["accuracy"]["value"]
        return float(value)
    except (KeyError, TypeError, ValueError) as error:
        raise RegistryError(
            f"{source} has no multiclass_classification_metrics.accuracy.value"
        ) from error


def read_json(path: Path, what: str) -> dict:
    """A JSON object from a file, or RegistryError naming the file."""
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise RegistryError(f"{path}: no such {what} file") from None
    except (OSError, ValueError) as error:
        raise RegistryError(f"{path}: cannot read {what} ({error})") from error
    if not isinstance(value, dict):
        raise RegistryError(f"{path}: {what} is not a JSON object")
    return value


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # neither a login name in the environment nor a passwd entry
        return "unknown"


def numbered(group_dir: Path) -> list[tuple[int, Path]]:
    """Every entry named by a version number, oldest first, whether intact or damaged."""
    if not group_dir.is_dir():
        return []
    found = [(int(entry.name), entry) for entry in group_dir.iterdir()
             if entry.name.isascii() and entry.name.isdigit()]
    return sorted(found)


def read_metadata(folder: Path, number: int) -> dict:
    """One version's metadata, or RegistryError saying what is damaged and what to do."""
    advice = "restore it or move the folder out of the registry"
    path = folder / METADATA
    if not path.is_file() or not (folder / ARCHIVE).is_file():
        missing = METADATA if not path.is_file() else ARCHIVE
        raise RegistryError(f"{folder}: a damaged version with no {missing}; {advice}")
    meta = read_json(path, "version metadata")
    if meta.get("version") != number:
        wrong = f"version is {meta.get('version')!r}, not the folder's {number}"
    elif meta.get("approval_status") not in STATUSES:
        wrong = f"approval_status is {meta.get('approval_status')!r}, not one of {STATUSES}"
    elif not isinstance(meta.get("accuracy"), int | float):
        wrong = f"accuracy is {meta.get('accuracy')!r}, not a number"
    elif not isinstance(meta.get("approval_history", []), list):
        wrong = "approval_history is not a list"
    else:
        return meta
    raise RegistryError(f"{path}: {wrong}; fix the file or move the folder out of the registry")


def versions(group_dir: Path) -> list[dict]:
    """Every registered version's metadata, oldest first; RegistryError names a damaged one."""
    return [read_metadata(folder, number) for number, folder in numbered(group_dir)]


def version_folder(group_dir: Path, version: int) -> Path:
    """The folder of a registered version, or RegistryError listing the versions there are."""
    known = [number for number, _ in numbered(group_dir)]
    if version not in known:
        there = ", ".join(map(str, known)) if known else "none yet"
        raise RegistryError(f"{group_dir}: no version {version} (registered versions: {there})")
    return group_dir / str(version)


def register(
    group_dir: Path,
    model_tar: Path,
    evaluation_path: Path,
    hyperparameters: dict,
    approve_at: float,
    pending_at: float,
    lineage: dict | None = None,
    baselines: dict | None = None,
    status: str | None = None,
    extra: dict | None = None,
) -> dict:
    """Register model_tar as the next version if its accuracy passes; return its metadata.

    status: the ModelApprovalStatus a CreateModelPackage request names (a pipeline's
    RegisterModel step), given rather than decided by the thresholds; extra: more fields to keep
    (that request's ModelMetrics, DriftCheckBaselines...).

    lineage names the job runs the model came from, e.g. {"training": "penguins-train-…"};
    baselines the Model Monitor baselines of the version, as the program's registration step
    records them: {"data_quality"|"model_quality": {"statistics": path, "constraints": path}}.
    """
    if not model_tar.is_file():
        raise RegistryError(f"{model_tar}: no such model archive; nothing was registered")
    lineage = dict(lineage or {})
    if not all(isinstance(key, str) and isinstance(run, str) for key, run in lineage.items()):
        raise RegistryError(f"lineage must name runs by step, as strings: {lineage!r}")
    evaluation = read_json(evaluation_path, "evaluation")
    accuracy = read_accuracy(evaluation, str(evaluation_path))
    if status is None:
        status = approval_status(accuracy, approve_at, pending_at)
        approved = (f"Approved from {approve_at:.2f}" if approve_at != float("inf")
                    else "Approved by a person only")
        why = (f"condition step: accuracy {accuracy:.4f}; {approved}, "
               f"PendingManualApproval from {pending_at:.2f}")
    elif status not in STATUSES:
        raise RegistryError(f"ModelApprovalStatus {status!r} is not one of {', '.join(STATUSES)}")
    else:
        why = f"ModelApprovalStatus {status} in the CreateModelPackage request"

    group_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=group_dir))
    try:
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would become the version folder's mode
        shutil.copyfile(model_tar, staging / ARCHIVE)
        created = now()
        metadata = {
            "version": 0,
            "approval_status": status,
            "approval_history": [
                {"status": status, "by": current_user(), "at": created, "description": why}
            ],
            "accuracy": accuracy,
            "metrics": evaluation,
            "hyperparameters": hyperparameters,
            "lineage": lineage,
            "baselines": dict(baselines or {}),
            "model_sha256": sha256(staging / ARCHIVE),
            "source": str(model_tar),
            "created": created,
            **(extra or {}),
        }
        # The number is claimed by renaming the complete folder: a reader never sees a half-written
        # version, and when two registrations race for a number the loser's rename fails and it
        # takes the next one. Numbers come from the folders, damaged ones too, so this ends.
        while True:
            number = max((taken for taken, _ in numbered(group_dir)), default=0) + 1
            metadata["version"] = number
            files.write_json(staging / METADATA, metadata)
            try:
                os.rename(staging, group_dir / str(number))
                return metadata
            except OSError:
                if not (group_dir / str(number)).exists():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on a version folder, so concurrent status changes keep every entry."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def set_status(
    group_dir: Path, version: int, status: str, by: str, description: str | None = None
) -> tuple[dict, bool]:
    """Give a version an approval status, recording who and when: (metadata, whether changed)."""
    if status not in STATUSES:
        raise RegistryError(f"approval status {status!r} is not one of {', '.join(STATUSES)}")
    if not by.strip():
        raise RegistryError("the approver's name is empty; set APPROVER= (or --by)")
    folder = version_folder(group_dir, version)
    with locked(folder):
        meta = read_metadata(folder, version)
        if meta["approval_status"] == status:
            return meta, False
        entry = {"status": status, "by": by, "at": now()}
        if description:
            entry["description"] = description
        meta["approval_status"] = status
        meta.setdefault("approval_history", []).append(entry)
        files.write_json(folder / METADATA, meta)
        return meta, True


def note_hook(group_dir: Path, version: int, outcome: hooks.Outcome) -> None:
    """Keep how ON_APPROVE ended in the newest approval_history entry (the approval stands)."""
    folder = version_folder(group_dir, version)
    with locked(folder):
        meta = read_metadata(folder, version)
        meta["approval_history"][-1]["on_approve"] = outcome.as_record()
        files.write_json(folder / METADATA, meta)


def approval_event(group_dir: Path, meta: dict) -> tuple[dict, dict]:
    """(the EventBridge "SageMaker Model Package State Change" event of an approval, the facts
    ON_APPROVE gets as environment variables)."""
    group, version = group_dir.name, meta["version"]
    entry = meta["approval_history"][-1]
    arn = f"arn:aws:sagemaker:local:000000000000:model-package/{group}/{version}"
    archive = group_dir / str(version) / ARCHIVE
    event = {
        "version": "0", "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Model Package State Change", "source": "aws.sagemaker",
        "account": "000000000000", "time": entry["at"], "region": "local", "resources": [arn],
        "detail": {"ModelPackageGroupName": group, "ModelPackageVersion": version,
                   "ModelPackageArn": arn, "ModelPackageName": f"{group}/{version}",
                   "ModelApprovalStatus": meta["approval_status"],
                   "ApprovalDescription": entry.get("description", ""),
                   "ModelPackageStatus": "Completed", "CreationTime": meta.get("created"),
                   "LastModifiedTime": entry["at"], "LastModifiedBy": entry["by"],
                   "InferenceSpecification": {"Containers": [{"ModelDataUrl": str(archive)}]},
                   "ModelMetrics": meta.get("metrics", {}),
                   "CustomerMetadataProperties": {"lineage": json.dumps(meta.get("lineage", {}))}}}
    facts = {"MODEL_PACKAGE_GROUP": group, "MODEL_VERSION": str(version),
             "MODEL_APPROVAL_STATUS": meta["approval_status"], "MODEL_DATA": str(archive),
             "MODEL_ACCURACY": str(meta["accuracy"]), "APPROVED_BY": entry["by"],
             "MODEL_PACKAGE_ARN": arn}
    return event, facts


def on_approve(group_dir: Path, meta: dict, hook: str) -> int:
    """Run ON_APPROVE after an approval, as the program's EventBridge rule starts its deploy
    Lambda: 0 when it worked; a failure is said with its exit code and the approval stays."""
    event, facts = approval_event(group_dir, meta)
    version = meta["version"]
    try:
        outcome = hooks.fire("ON_APPROVE", hook, event, facts,
                             group_dir / str(version) / "approval-event.json")
    except hooks.HookError as error:
        outcome = hooks.Outcome(False, str(error), 0)
    note_hook(group_dir, version, outcome)
    if outcome.ok:
        print(outcome.text)
        return 0
    print(f"registry: {outcome.text}; version {version} stays {meta['approval_status']}",
          file=sys.stderr)
    return 1


def change_status(group_dir: Path, version: int, status: str, by: str,
                  description: str | None = None, hook: str | None = None) -> int:
    """What make approve and make reject do, and UpdateModelPackage with a ModelApprovalStatus:
    the status recorded, then ON_APPROVE (`hook`) when it became Approved; 1 when the hook
    failed (the status stays)."""
    hook = hook if status == APPROVED else None  # only an approval fires ON_APPROVE
    if hook:
        hooks.check("ON_APPROVE", hook)  # a bad hook changes nothing
    meta, changed = set_status(group_dir, version, status, by, description)
    if not changed:
        print(f"version {version} is already {status}; nothing changed"
              + ("; ON_APPROVE not run" if hook else ""))
        return 0
    entry = meta["approval_history"][-1]
    print(f"version {version} is now {status} (by {entry['by']} at {entry['at']})")
    return on_approve(group_dir, meta, hook) if hook else 0


def resolve(group_dir: Path, version: int | None = None) -> Path:
    """The archive of the given version, or of the latest Approved one."""
    if version is not None:
        folder = version_folder(group_dir, version)
        read_metadata(folder, version)
        return folder / ARCHIVE
    approved = [meta for meta in versions(group_dir) if meta["approval_status"] == APPROVED]
    if not approved:
        raise RegistryError(f"{group_dir}: no Approved version (make approve VERSION=N)")
    return group_dir / str(approved[-1]["version"]) / ARCHIVE


def describe(meta: dict) -> str:
    """One line of `make models`."""
    line = (f"{meta['version']}\t{meta['approval_status']}\taccuracy={meta['accuracy']:.4f}"
            f"\t{meta.get('created')}")
    history, lineage = meta.get("approval_history"), meta.get("lineage")
    if isinstance(history, list) and len(history) > 1 and isinstance(history[-1], dict):
        line += f"\tset by {history[-1].get('by')} at {history[-1].get('at')}"
    if isinstance(lineage, dict) and lineage.get("training"):
        line += f"\ttraining={lineage['training']}"
    return line


def parse_number(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise RegistryError(f"version {text!r} is not a whole number, e.g. VERSION=3")
    return int(text)


def parse_lineage(pairs: list[str]) -> dict:
    lineage = {}
    for pair in pairs:
        key, sep, run = pair.partition("=")
        if not (sep and key and run) or key in lineage:
            raise RegistryError(f"--lineage {pair!r}: give each step once, as STEP=RUN-NAME")
        lineage[key] = run
    return lineage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry", description=__doc__.splitlines()[0])
    parser.add_argument("--group-dir", type=Path, required=True)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("register", help="register a model if its accuracy passes")
    add.add_argument("--model", type=Path, required=True)
    add.add_argument("--evaluation", type=Path, required=True)
    add.add_argument("--hyperparameters", type=Path, required=True)
    add.add_argument("--approve-at", type=float, default=0.70)
    add.add_argument("--pending-at", type=float, default=0.50)
    add.add_argument("--lineage", action="append", default=[], metavar="STEP=RUN-NAME")
    find = commands.add_parser("resolve", help="print the archive to serve")
    find.add_argument("--version")
    commands.add_parser("list", help="print every version")
    for command, status in (("approve", APPROVED), ("reject", REJECTED)):
        change = commands.add_parser(command, help=f"set a version's status to {status}")
        change.add_argument("--version", required=True)
        change.add_argument("--by", default=current_user())
        change.add_argument("--description")
        change.set_defaults(status=status)
        if status == APPROVED:
            change.add_argument("--on-approve", help="ON_APPROVE: a command or a local URL "
                                "run after the approval")
    args = parser.parse_args(argv)
    group = args.group_dir
    try:
        if args.command == "register":
            hyperparameters = read_json(args.hyperparameters, "hyperparameters")
            meta = register(group, args.model, args.evaluation, hyperparameters,
                            args.approve_at, args.pending_at, parse_lineage(args.lineage))
            print(f"registered version {meta['version']} as {meta['approval_status']} "
                  f"(accuracy {meta['accuracy']:.4f}) in {group / str(meta['version'])}")
        elif args.command == "resolve":
            print(resolve(group, parse_number(args.version)))
        elif args.command == "list":
            found = numbered(group)
            if not found:
                print(f"no versions registered in {group} yet (make pipeline registers one)")
            for number, folder in found:
                try:
                    print(describe(read_metadata(folder, number)))
                except RegistryError as error:  # the others are still worth seeing
                    print(f"{number}\tdamaged: {error}")
        else:
            return change_status(group, parse_number(args.version), args.status, args.by,
                                 args.description, getattr(args, "on_approve", None))
    except (RegistryError, OSError, hooks.HookError) as error:
        print(f"registry: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
