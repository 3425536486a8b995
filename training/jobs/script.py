"""Script mode: a user's training entry point, run as SageMaker's framework containers run it.

The sagemaker-training toolkit does what it does in those containers: it names the program
(hyperparameter sagemaker_program, or SAGEMAKER_PROGRAM) and its code (sagemaker_submit_directory:
a sourcedir.tar.gz or a folder, /opt/ml/code when SDK local mode mounts the code), unpacks the
code, builds the SM_* environment and passes the hyperparameters as command-line arguments to a
Python script, a module (a source dir with setup.py) or a shell script. Around it this module
adds what a job here needs: file:// and s3:// sources read or refused by name, requirements.txt
installed offline from a wheelhouse, SIGTERM passed on to the script, and a failing script
reported as the job's failure with the last lines it wrote to stderr.
"""

import collections
import importlib
import os
import re
import signal
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from training.contract.jobio import JobError, atomic_write, fail

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
S3_ENDPOINT = "S3_ENDPOINT_URL"  # the toolkit's (and SDK local mode's) name for it
WHEELHOUSE = "wheelhouse"  # beside requirements.txt: pip installs from it alone
TAIL_LINES = 20  # of the script's stderr, into /opt/ml/output/failure
PIP_NOT_FOUND = re.compile(r"(?:No matching distribution found for|Could not find a version "
                           r"that satisfies the requirement) (\S+)")


def toolkit(base: Path):
    """The toolkit's environment module, its paths under base (it fixes them when imported)."""
    from sagemaker_training import environment

    if Path(environment.base_dir) != base:
        importlib.reload(environment)
    return environment


def program(base: Path) -> str | None:
    """The entry point the job names, if any (else the built-in workload runs)."""
    named = os.environ.get(PROGRAM.upper())
    if named:
        return named
    try:
        value = toolkit(base).read_hyperparameters().get(PROGRAM)
    except (OSError, ValueError):
        return None  # no or broken hyperparameters.json: the built-in job says what is wrong
    return str(value) if value else None


def code_source(uri: str, environ=os.environ) -> str:
    """sagemaker_submit_directory as the toolkit reads it (a folder, a local tarball, or s3://
    when a local S3 endpoint is configured), or JobError naming it."""
    if uri.startswith("s3://"):
        if not environ.get(S3_ENDPOINT):
            raise JobError(f"{SUBMIT_DIRECTORY}={uri}: no S3 here; set {S3_ENDPOINT} to a local "
                           "S3 endpoint, or give the code as a folder or a file:// "
                           "sourcedir.tar.gz (SDK local mode mounts local code at /opt/ml/code)")
        return uri
    parsed = urlparse(uri)
    path = parsed.netloc + parsed.path if parsed.scheme == "file" else uri
    if not os.path.exists(path):
        raise JobError(f"{SUBMIT_DIRECTORY}={uri}: no such file or folder in the container")
    if os.path.isfile(path) and not tarfile.is_tarfile(path):
        raise JobError(f"{SUBMIT_DIRECTORY}={uri}: not a folder or a sourcedir.tar.gz")
    return path


def install_requirements(code: Path, environ: dict) -> None:
    """requirements.txt into the image's Python before the script runs (from wheelhouse/ beside
    it alone, when there is one); JobError naming the package that cannot be had. A job run as
    a user who cannot write the image's site-packages (make's jobs) installs into a folder of
    its own, put on the script's PYTHONPATH."""
    requirements = code / "requirements.txt"
    if not requirements.is_file():
        return
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
               "--no-input", "-r", requirements.name]
    wheelhouse = code / WHEELHOUSE
    if wheelhouse.is_dir():
        command += ["--no-index", "--find-links", str(wheelhouse)]
    if not os.access(sysconfig.get_paths()["purelib"], os.W_OK):
        prefix = tempfile.mkdtemp(prefix="requirements-")
        command += ["--prefix", prefix]
        site = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})["purelib"]
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [site, environ.get("PYTHONPATH")]))
    print(f"installing {requirements}" + (f" from {wheelhouse}" if wheelhouse.is_dir() else ""),
          flush=True)
    done = subprocess.run(command, cwd=code, capture_output=True, text=True, env=environ)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode:
        raise JobError(requirements_error(done.stderr, done.returncode, wheelhouse.is_dir()))


def requirements_error(stderr: str, code: int, wheelhouse: bool) -> str:
    missing = PIP_NOT_FOUND.search(stderr)
    if missing:
        where = (f"no wheel of it in {WHEELHOUSE}/ beside requirements.txt" if wheelhouse else
                 "the package index has none or cannot be reached (offline: put its wheel in "
                 f"{WHEELHOUSE}/ beside requirements.txt, or give the job PIP_INDEX_URL)")
        return f"requirements.txt: cannot install {missing.group(1)}: {where}"
    last = " ".join(stderr.strip().splitlines()[-3:])
    return f"requirements.txt: pip failed with exit code {code}: {last}"


def command_line(code: Path, name: str, args: list[str]) -> list[str]:
    """The toolkit's command for a script, a module or a shell script, after its checks."""
    from sagemaker_training import _entry_point_type, errors, modules, process

    try:
        process.validate_entry_point(name)
    except errors.ClientError as error:
        raise JobError(f"{PROGRAM}={name}: {error}") from None
    kind = _entry_point_type.get(str(code), name)
    if kind is not _entry_point_type.PYTHON_PACKAGE and not (code / name).is_file():
        found = ", ".join(sorted(p.name for p in code.iterdir())[:10]) or "nothing"
        raise JobError(f"{PROGRAM}={name}: no such file in the code at {code} (found: {found})")
    if kind is _entry_point_type.PYTHON_PACKAGE:
        try:
            modules.install(str(code), capture_error=True)
        except errors.InstallModuleError as error:
            raise JobError(f"cannot install the module in {code} (setup.py): {error}") from None
    elif kind is _entry_point_type.COMMAND:
        os.chmod(code / name, 0o755)
    return process.ProcessRunner(name, args, {}, 1)._create_command()


def run_child(command: list[str], code: Path, environ: dict) -> tuple[int, list[str]]:
    """Run the script with SIGTERM passed on; its stderr goes on to ours, the last lines kept."""
    tail = collections.deque(maxlen=TAIL_LINES)
    child = subprocess.Popen(command, cwd=code, env=environ, stderr=subprocess.PIPE, text=True,
                             errors="replace")
    previous = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        for line in child.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip("\n"))
        code_ = child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    # A script killed by a signal exits as a shell reports it: 128 + the signal.
    return (128 - code_ if code_ < 0 else code_), list(tail)


def main(base: Path) -> int:
    """Run the named program; its exit code is the job's."""
    failure = base / "output" / "failure"
    try:
        environment = toolkit(base)
        from sagemaker_training import files

        from training.model import distributed

        env = environment.Environment()
        name = env.user_entry_point
        code = Path(environment.code_dir)
        files.download_and_extract(code_source(env.module_dir), str(code))
        cluster = distributed.read_cluster(base)
        if cluster.multi:
            distributed.resolve(cluster.hosts)  # as the toolkit waits for every host's name
        from training.jobs import export

        exporting = export.requested(env.hyperparameters | env.additional_framework_parameters)
        chief = cluster.current == cluster.hosts[0]  # only its model folder is packed
        environ = {**os.environ, **env.to_env_vars()}
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code),
                                                              os.environ.get("PYTHONPATH")]))
        for folder in (base / "model", base / "output" / "data"):
            folder.mkdir(parents=True, exist_ok=True)  # there on SageMaker; scripts expect them
        install_requirements(code, environ)
        command = command_line(code, name, env.to_cmd_args())
    except JobError as error:
        return fail(failure, str(error))
    except Exception as error:  # the toolkit's own errors (a bad tarball, S3) name the cause
        return fail(failure, f"cannot start the entry point: {type(error).__name__}: {error}")
    print(f"running {name} from {code}: {' '.join(command)}", flush=True)
    returned, tail = run_child(command, code, environ)
    if returned:
        reason = f"the entry point {name} exited with code {returned}"
        print(f"error: {reason}", file=sys.stderr, flush=True)
        text = reason + (":\n" + "\n".join(tail)[-4000:] if tail else "")
        try:
            atomic_write(failure, text + "\n")
        except OSError as error:
            print(f"error: cannot write {failure}: {error}", file=sys.stderr, flush=True)
        return returned
    if exporting and chief:
        try:
            print(export.export(base / "model"), flush=True)
        except JobError as error:
            return fail(failure, str(error))
        except Exception as error:  # a converter's own failure: named, not a traceback only
            return fail(failure, f"{export.HYPERPARAMETER}: {type(error).__name__}: {error}")
    archive = os.environ.get("MODEL_ARCHIVE")
    if archive:
        from training.contract.archive import pack

        try:
            print(f"packed {pack(base / 'model', Path(archive))}", flush=True)
        except OSError as error:
            return fail(failure, f"cannot pack {base / 'model'} into {archive}: {error}")
    print(f"{name} complete; model in {base / 'model'}", flush=True)
    return 0
