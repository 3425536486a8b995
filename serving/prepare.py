"""What `serve` does while still root, before it gives up root (serving/privileges.py).

- code/requirements.txt of an inference handler is installed. The rule for pins: a package the
  image already has is never replaced (the server itself runs on it); a pin it does not meet
  is logged and the image's version used. Anything else must install, from a `wheelhouse`
  folder beside requirements.txt when there is one (offline, --no-index), else from the index
  pip is configured with (PIP_INDEX_URL, PIP_CONFIG_FILE, ... passed to the container); if it
  cannot, the endpoint does not start and the message names the package.
- The model folder as SDK local mode mounts it (root-owned, 0700) is copied to a folder the
  unprivileged workers can read.
"""

import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

REQUIREMENTS = Path("code") / "requirements.txt"
WHEELHOUSE = "wheelhouse"
# pip's words for a requirement it cannot find; the name follows.
NOT_FOUND = re.compile(r"(?:No matching distribution found for|Could not find a version that "
                       r"satisfies the requirement) ([^\s;(]+)")
READ_ALL = ("import os, sys\n"
            "for root, _dirs, files in os.walk(sys.argv[1], onerror=lambda e: sys.exit(1)):\n"
            "    for name in files:\n"
            "        open(os.path.join(root, name), 'rb').close()\n")


class PrepareError(Exception):
    """The endpoint cannot start; the message names the package or folder."""


def plan(text: str) -> tuple[list, list]:
    """(lines to install, notes on pins the image's versions answer instead)."""
    install, notes = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise PrepareError(f"requirements.txt line {number}: options ({line.split()[0]}) "
                               "are not read; give package requirements only")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise PrepareError(f"requirements.txt line {number}: {error}") from None
        try:
            have = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            install.append(line)
            continue
        if requirement.specifier and not requirement.specifier.contains(have, prereleases=True):
            notes.append(f"{requirement.name}{requirement.specifier} asked; the image's "
                         f"{requirement.name} {have} is used")
    return install, notes


def install_requirements(model_dir: Path, say, python: str = sys.executable) -> None:
    path = model_dir / REQUIREMENTS
    if not path.is_file():
        return
    install, notes = plan(path.read_text())
    for note in notes:
        say(f"requirements.txt: {note}")
    if not install:
        return
    wheelhouse = path.parent / WHEELHOUSE
    source = (["--no-index", "--find-links", str(wheelhouse)] if wheelhouse.is_dir()
              else ["--retries", "1", "--timeout", "15"])
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
        # The image's own packages stay as they are, also as dependencies of new ones.
        constraints.write("".join(f"{d.metadata['Name']}=={d.version}\n"
                                  for d in metadata.distributions() if d.metadata["Name"]))
        constraints.flush()
        say(f"requirements.txt: installing {', '.join(install)}")
        done = subprocess.run([python, "-m", "pip", "install", "--no-input",
                               "--disable-pip-version-check", "--no-cache-dir",
                               "-c", constraints.name, *source, *install],
                              capture_output=True, text=True)
    if done.returncode != 0:
        names = sorted(set(NOT_FOUND.findall(done.stderr))) or install
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise PrepareError(f"requirements.txt: cannot install {', '.join(names)} "
                           f"({'from ' + str(wheelhouse) if wheelhouse.is_dir() else 'index'}"
                           f"): {tail}")


def readable_by(folder: Path, user: str, group: str) -> bool:
    """Whether `user` can read every file under folder (tried as that user)."""
    done = subprocess.run([sys.executable, "-c", READ_ALL, str(folder)], user=user,
                          group=group, capture_output=True)
    return done.returncode == 0


def readable_model(model_dir: Path, run_dir: Path, user: str, group: str) -> Path:
    """model_dir, or a copy the workers can read (owned by user) when they cannot read it."""
    if not model_dir.is_dir() or readable_by(model_dir, user, group):
        return model_dir
    copy = run_dir / "model"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(model_dir, copy, symlinks=True)
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    for root, dirs, files in os.walk(copy):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, uid, gid)
    return copy
