"""The test suite's own rules: each unit module names its layer, each failure class has one row
the contract tests run, and no contract module hard-codes what would make it depend on others
(a compose project, an image, a host port)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import job_cases

pytestmark = pytest.mark.unit
TESTS = Path(__file__).resolve().parents[1]
LAYERS = {"unit", "training", "pipeline"}


def module_marks(path: Path) -> set[str]:
    """The pytest.mark.<name> of a module's `pytestmark = ...` assignment."""
    marks = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "pytestmark"
                for target in node.targets):
            marks |= {sub.attr for sub in ast.walk(node.value) if isinstance(sub, ast.Attribute)
                      and sub.attr != "mark"}
    return marks


@pytest.mark.parametrize("path", sorted((TESTS / "unit").glob("test_*.py")),
                         ids=lambda path: path.name)
def test_every_unit_module_names_its_layer_so_make_test_unit_runs_it(path):
    assert module_marks(path) & LAYERS, f"{path.name}: pytestmark = pytest.mark.<one of {LAYERS}>"


def test_every_failure_class_has_one_contract_row_and_rows_have_their_own_ids():
    for name, cases in job_cases.CLASSES.items():
        assert len(job_cases.contract(cases)) == 1, name
        assert len({case.id for case in cases}) == len(cases), name


PROJECT = "a compose project of the module's own: the compose_project fixture"
FIXED = [
    (re.compile(r"COMPOSE_PROJECT=[a-z]"), PROJECT),
    (re.compile(r"^\w*PROJECT\w* = f?[\"']", re.M), PROJECT),
    (re.compile(r"[\"'](penguinstest|penguinstune|monmodeltest)[a-z]*[\"']"), PROJECT),
    (re.compile(r"\{\s*\w+\.id for \w+ in [\w.]*containers\.list\(all=True\)"),
     "no list of every container on the engine: local mode's local.container_root and "
     "harness.remove_compose_files_containers remove the module's own"),
    (re.compile(r"[\"']penguins-(training|serving)[-a-z]*:[a-z]"), "an image name: harness's "
     "TRAINING_IMAGE / SERVING_IMAGE (from the environment)"),
    (re.compile(r"(localhost|127\.0\.0\.1):\d{2,5}\b"), "a free port picked at run time: "
     "harness.free_port()"),
]


@pytest.mark.parametrize("path", sorted((TESTS / "contract").glob("test_*.py")),
                         ids=lambda path: path.name)
def test_no_contract_module_hard_codes_a_project_an_image_or_a_port(path):
    text = path.read_text()
    for pattern, instead in FIXED:
        found = pattern.search(text)
        assert not found, f"{path.name}: {found.group(0)!r}; use {instead}"


def test_every_test_id_is_the_same_in_every_process():
    """pytest-xdist refuses to start when its workers collect different ids: an object's
    default repr (its address) in a parametrized id differs from process to process."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
         str(TESTS / "unit"), str(TESTS / "contract")],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=300).stdout
    assert "tests collected" in collected or "test collected" in collected, collected[-2000:]
    assert [line for line in collected.splitlines() if " at 0x" in line] == []
