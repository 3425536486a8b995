"""`python -m training.jobs.dataset [--workload NAME] DIR`: put a workload's offline data in DIR.

Penguins: palmerpenguins' penguins.csv, if DIR has no CSV yet. A workload without a put_data
function needs nothing there (Digits falls back to scikit-learn's bundled digits).
"""

import argparse
import sys
from importlib import resources
from pathlib import Path

from training.contract.jobio import JobError, atomic_write
from training.workloads import registry as workloads


def bundled() -> Path:
    return Path(str(resources.files("palmerpenguins") / "data" / "penguins.csv"))


def put_penguins(target: Path) -> str:
    existing = sorted(target.glob("*.csv"))
    if existing:
        return f"input already has {', '.join(p.name for p in existing)}; left as is"
    atomic_write(target / "penguins.csv", bundled().read_bytes())
    return f"copied the palmerpenguins dataset to {target / 'penguins.csv'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.jobs.dataset",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default=workloads.DEFAULT)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        workload = workloads.get(args.workload)
    except JobError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    put = getattr(workload, "put_data", None)
    print(put(args.folder) if put else getattr(workload, "DATA_NOTE", "nothing to copy"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
