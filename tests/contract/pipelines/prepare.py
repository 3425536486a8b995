"""Processing: the input's rows copied to a train split."""
import pathlib
import sys

base = pathlib.Path("/opt/ml/processing")
if "--fail" in sys.argv:
    raise SystemExit("prepare was told to fail")
rows = [line for p in sorted((base / "input").glob("*.csv")) for line in p.read_text().splitlines()]
(base / "train").mkdir(parents=True, exist_ok=True)
(base / "train" / "train.csv").write_text("\n".join(rows) + "\n")
print(f"{len(rows)} rows", flush=True)
