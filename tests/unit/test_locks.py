"""The lock files: every dependency pinned with hashes, and no lock older than its .in file.

`make lock` writes each lock from its .in file (uv pip compile --generate-hashes); a .in edited
without re-locking, or a lock edited by hand, fails here before a build installs the wrong set.
"""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = "requirements-dev.txt"
# lock -> the .in it is compiled from.
LOCKS = {
    "containers/requirements-training.txt": "containers/requirements-training.in",
    "containers/requirements-serving.txt": "containers/requirements-serving.in",
    # tf_keras alone (--no-deps): its tensorflow is the image's tensorflow-cpu.
    "containers/requirements-legacy-keras.txt": "containers/requirements-legacy-keras.in",
    DEV_LOCK: "requirements-dev.in",
    # SDK 3.x's test venv: resolved on its own (sagemaker 3 and the dev lock's 2.x conflict).
    "requirements-sdk3.txt": "requirements-sdk3.in",
}
# Users' scripts alone import tf_keras, in the image; the test venv cannot have it without a
# second TensorFlow (its `tensorflow` requirement), so it has no dev version to agree with.
IMAGE_ONLY = {"containers/requirements-legacy-keras.txt"}
IMAGE_LOCKS = [lock for lock in LOCKS if lock.startswith("containers/") and lock not in IMAGE_ONLY]
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def logical_lines(text):
    """Lines with comments dropped and backslash continuations joined, as pip reads them."""
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if line:
            yield line


def top_level(in_path):
    """The requirements of a .in file, following its -r includes (relative to the file)."""
    requirements = []
    for line in logical_lines(in_path.read_text()):
        if line.startswith(("-r ", "--requirement ")):
            requirements += top_level(in_path.parent / line.split(maxsplit=1)[1])
        elif line.startswith("-"):
            raise AssertionError(f"{in_path}: unexpected option line {line!r}")
        else:
            requirements.append(Requirement(line))
    return requirements


def parse_lock(text, name="lock"):
    """{canonical name: (version, hashes)}; fails on anything but hashed == pins."""
    pins = {}
    for line in logical_lines(text):
        assert not line.startswith("-"), (
            f"{name}: option line {line!r}: a lock names no index or link, so pip uses PyPI "
            "(run make lock)"
        )
        hashes = HASH.findall(line)
        requirement = Requirement(HASH.sub("", line).strip())
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"{name}: {requirement} is not pinned with == (run make lock)"
        )
        assert hashes, f"{name}: {requirement} has no --hash (run make lock)"
        pins[canonicalize_name(requirement.name)] = (specifiers[0].version, hashes)
    return pins


def read_lock(lock):
    return parse_lock((ROOT / lock).read_text(), lock)


def unsatisfied(requirements, pins):
    """The top-level requirements no pin of the lock satisfies, as messages."""
    problems = []
    for requirement in requirements:
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pin[0], prereleases=True):
            problems.append(f"{requirement} but the lock pins {pin[0]}")
    return problems


@pytest.mark.parametrize("lock", LOCKS)
def test_every_top_level_requirement_is_satisfied_by_a_pin_of_its_lock(lock):
    problems = unsatisfied(top_level(ROOT / LOCKS[lock]), read_lock(lock))
    assert not problems, f"{lock} is stale ({'; '.join(problems)}): run make lock"


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_header_names_the_in_file_it_was_compiled_from(lock):
    header = [line for line in (ROOT / lock).read_text().splitlines()[:3] if line.startswith("#")]
    command = next((line for line in header if "uv pip compile" in line), "")
    assert f" {LOCKS[lock]} " in command and f"-o {lock}" in command, (
        f"{lock}: its header does not record `uv pip compile {LOCKS[lock]} ... -o {lock}`"
        " (run make lock)"
    )


@pytest.mark.parametrize("lock", IMAGE_LOCKS)
def test_every_package_of_an_image_has_the_test_environments_version(lock):
    dev = read_lock(DEV_LOCK)
    differ = [
        f"{name} {version} (dev: {dev[name][0] if name in dev else 'absent'})"
        for name, (version, _) in read_lock(lock).items()
        if name not in dev or dev[name][0] != version
    ]
    assert not differ, f"{lock} and {DEV_LOCK} disagree: {', '.join(differ)}; run make lock"


# The checks above must catch a stale lock; these prove they can, on made-up files.
PIN = "numpy==2.4.6 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r x.in\n"


def test_a_package_added_to_the_in_file_without_relocking_is_reported(tmp_path):
    in_file = tmp_path / "x.in"
    in_file.write_text("numpy\nflask==3.1.3  # the endpoint\n")
    assert unsatisfied(top_level(in_file), parse_lock(PIN)) == ["flask is not in the lock"]


def test_a_pin_of_the_in_file_the_lock_does_not_hold_is_reported(tmp_path):
    in_file = tmp_path / "x.in"
    in_file.write_text("NumPy==2.4.7\n")
    assert unsatisfied(top_level(in_file), parse_lock(PIN)) == [
        "NumPy==2.4.7 but the lock pins 2.4.6"
    ]


def test_requirements_of_an_included_in_file_count(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.in").write_text("numpy>=3\n")
    (tmp_path / "x.in").write_text("-r sub/base.in\n")
    assert unsatisfied(top_level(tmp_path / "x.in"), parse_lock(PIN)) == [
        "numpy>=3 but the lock pins 2.4.6"
    ]


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        ("numpy==2.4.6\n", "has no --hash"),
        ("numpy>=2 \\\n    --hash=sha256:" + "a" * 64 + "\n", "is not pinned with =="),
        ("--extra-index-url https://example.invalid/simple\n" + PIN, "option line"),
    ],
)
def test_a_lock_entry_without_a_hash_or_pin_or_with_an_index_is_refused(lock, message):
    with pytest.raises(AssertionError, match=message):
        parse_lock(lock)


def test_the_two_sdk_venvs_pin_the_two_sdk_lines():
    # tests/contract drive SDK 2.x and tests/sdk3 SDK 3.x; one venv cannot hold both.
    dev, sdk3 = read_lock(DEV_LOCK)["sagemaker"][0], read_lock("requirements-sdk3.txt")
    assert dev.split(".")[0] == "2" and sdk3["sagemaker"][0].split(".")[0] == "3"
