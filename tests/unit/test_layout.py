"""The test tree itself: pytest imports test modules by basename (no packages here)."""

from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_basename():
    # Two would stop the whole run at collection ("import file mismatch").
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
