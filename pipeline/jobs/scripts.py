"""A user's own code in the pipeline's jobs (script mode): `make process SCRIPT=…`,
`make train ENTRY_POINT=… SOURCE_DIR=…`, `make evaluate EVALUATION_SCRIPT=…`.

Each run keeps the code it ran, as SageMaker keeps a job's code input. A processing or evaluation
script runs as ScriptProcessor(command=["python3"], code=…) runs it (the script's path and the
job's arguments after the command); its copy is in the run folder at processing/code/, since
/opt/ml/processing/input is the read-only data. A training entry point goes as the SDK sends it
to a network-isolated job: its source dir packed into sourcedir.tar.gz in the `code` channel
folder, named by the sagemaker_program and sagemaker_submit_directory hyperparameters, which the
training image's script mode reads. Standard library only (and the one model-archive packer).
"""

import shlex
import shutil
from pathlib import Path

from pipeline.runs.records import RunError

# ScriptProcessor's ContainerEntrypoint is [command..., script]; tini stays in front as in the
# image's own entrypoint, so SIGTERM reaches the script and its children are reaped.
PYTHON_ENTRYPOINT = "/usr/bin/tini -- python3"
SCRIPT_FOLDER = "processing/code"
CODE_ARCHIVE = "input/data/code/sourcedir.tar.gz"  # SageMaker's code channel under /opt/ml


def stage_script(run_folder: Path, script: str) -> str:
    """Copy a processing or evaluation script into its run; return its path in the container."""
    source = Path(script)
    if not source.is_file():
        raise RunError(f"SCRIPT={script}: no such file")
    target = run_folder / SCRIPT_FOLDER / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"/opt/ml/{SCRIPT_FOLDER}/{source.name}"


def script_command(run_folder: Path, script: str, arguments: str) -> tuple[list, tuple]:
    """(the container's arguments, the compose options) that run a script in its run."""
    try:
        words = shlex.split(arguments or "")
    except ValueError as error:
        raise RunError(f"ARGUMENTS={arguments!r}: {error}") from None
    return [stage_script(run_folder, script), *words], ("--entrypoint", PYTHON_ENTRYPOINT)


def entry_point(entry: str, source_dir: str | None) -> tuple[str, Path]:
    """(the program's name in its source dir, the source dir), as the SDK's Estimator takes
    entry_point and source_dir: without a source dir, the entry point's own folder."""
    folder = Path(source_dir) if source_dir else Path(entry).parent
    name = entry if source_dir else Path(entry).name
    if not folder.is_dir():
        raise RunError(f"SOURCE_DIR={folder}: no such folder")
    if not (folder / name).is_file():
        raise RunError(f"ENTRY_POINT={entry}: no such file in {folder}")
    return name, folder


def program_hyperparameters(name: str) -> dict:
    """What the SDK adds to a script-mode job's hyperparameters."""
    return {"sagemaker_program": name, "sagemaker_submit_directory": f"/opt/ml/{CODE_ARCHIVE}"}


def stage_code(root: Path, source_dir: Path) -> None:
    """sourcedir.tar.gz of the source dir in a host's code channel folder."""
    from training.contract.archive import pack

    pack(source_dir, root / CODE_ARCHIVE)
