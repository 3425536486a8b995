"""`python -m training.dataset DIR`: put palmerpenguins' penguins.csv in DIR if it has no CSV."""

import sys
from importlib import resources
from pathlib import Path

from training.jobio import atomic_write


def bundled() -> Path:
    return Path(str(resources.files("palmerpenguins") / "data" / "penguins.csv"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.dataset DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    existing = sorted(target.glob("*.csv"))
    if existing:
        print(f"input already has {', '.join(p.name for p in existing)}; left as is")
        return 0
    atomic_write(target / "penguins.csv", bundled().read_bytes())
    print(f"copied the palmerpenguins dataset to {target / 'penguins.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
