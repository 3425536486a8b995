"""`python -m training.jobs.dataset [--workload NAME] DIR`: put a workload's offline data in DIR.

Penguins: palmerpenguins' penguins.csv, if DIR has no CSV yet. A workload without a put_data
function needs nothing there (Digits falls back to scikit-learn's bundled digits).
"""

import argparse
import sys
from pathlib import Path

from training.contract.jobio import JobError
from training.workloads import registry as workloads


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
