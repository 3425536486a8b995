"""A local model registry: numbered versions of model.tar.gz with metrics and approval status.

Mirrors what the SageMaker model registry keeps for a model package group, on a folder:
<root>/<group>/<version>/{model.tar.gz, metadata.json}. Standard library only, so make can
run it on the host.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

APPROVED = "Approved"
PENDING = "PendingManualApproval"


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


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions(group_dir: Path) -> list[dict]:
    """Every registered version's metadata, oldest first."""
    if not group_dir.is_dir():
        return []
    found = []
    for entry in group_dir.iterdir():
        if entry.name.isdigit() and (entry / "metadata.json").is_file():
            found.append(json.loads((entry / "metadata.json").read_text()))
    return sorted(found, key=lambda meta: meta["version"])


def register(
    group_dir: Path,
    model_tar: Path,
    evaluation_path: Path,
    hyperparameters: dict,
    approve_at: float,
    pending_at: float,
) -> dict:
    """Register model_tar as the next version if its accuracy passes; return its metadata."""
    if not model_tar.is_file():
        raise RegistryError(f"{model_tar}: no such model archive")
    try:
        evaluation = json.loads(evaluation_path.read_text())
    except (OSError, ValueError) as error:
        raise RegistryError(f"{evaluation_path}: cannot read evaluation ({error})") from error
    accuracy = read_accuracy(evaluation, str(evaluation_path))
    status = approval_status(accuracy, approve_at, pending_at)

    group_dir.mkdir(parents=True, exist_ok=True)
    # Stage the whole version, then claim its number with an atomic rename, so a reader never
    # sees a half-written version and two registrations never share a number.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=group_dir))
    try:
        shutil.copyfile(model_tar, staging / "model.tar.gz")
        metadata = {
            "approval_status": status,
            "accuracy": accuracy,
            "metrics": evaluation,
            "hyperparameters": hyperparameters,
            "model_sha256": sha256(staging / "model.tar.gz"),
            "source": str(model_tar),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        while True:
            number = max((meta["version"] for meta in versions(group_dir)), default=0) + 1
            metadata["version"] = number
            (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
            try:
                os.rename(staging, group_dir / str(number))
                return metadata
            except OSError:
                if not (group_dir / str(number)).exists():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve(group_dir: Path, version: int | None = None) -> Path:
    """The archive of the given version, or of the latest Approved one."""
    known = versions(group_dir)
    if version is not None:
        for meta in known:
            if meta["version"] == version:
                return group_dir / str(version) / "model.tar.gz"
        raise RegistryError(f"{group_dir}: no version {version}")
    approved = [meta for meta in known if meta["approval_status"] == APPROVED]
    if not approved:
        raise RegistryError(f"{group_dir}: no Approved version")
    return group_dir / str(approved[-1]["version"]) / "model.tar.gz"


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
    find = commands.add_parser("resolve", help="print the archive to serve")
    find.add_argument("--version", type=int)
    commands.add_parser("list", help="print every version")
    args = parser.parse_args(argv)
    try:
        if args.command == "register":
            hyperparameters = json.loads(args.hyperparameters.read_text())
            meta = register(
                args.group_dir, args.model, args.evaluation, hyperparameters,
                args.approve_at, args.pending_at,
            )
            print(
                f"registered version {meta['version']} as {meta['approval_status']} "
                f"(accuracy {meta['accuracy']:.4f}) in {args.group_dir / str(meta['version'])}"
            )
        elif args.command == "resolve":
            print(resolve(args.group_dir, args.version))
        else:
            for meta in versions(args.group_dir):
                print(
                    f"{meta['version']}\t{meta['approval_status']}\t"
                    f"accuracy={meta['accuracy']:.4f}\t{meta['created']}"
                )
    except RegistryError as error:
        print(f"registry: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
