"""Processing job: raw data -> seeded stratified splits, the fitted transformers, workload.json.

`--workload` picks the workload (training/workloads/registry.py); its process_outputs() reads
/opt/ml/processing/input and gives train/, validation/, test/ (headerless, label first),
pipeline/ and, for Penguins, baseline/; this module adds pipeline/workload.json, which tells
the training job the workload. Everything is validated and computed before the first file is
written. The Penguins reading rules (read_raw, split, ...) live here too.
"""

import argparse
import io
import json
import sys
from pathlib import Path

from training.contract.jobio import JobError, atomic_write, base_dir, fail

LABEL = "species"
NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
CATEGORICAL = ("island", "sex")
FEATURES = CATEGORICAL[:1] + NUMERIC + CATEGORICAL[1:]  # the dataset's own column order
# Strings read as a missing value, as serving reads them (serving/features.py MISSING).
# "nan" and "NaN" too: what Python and pandas write for a float NaN, never a category or a number.
MISSING = ["", "NA", "N/A", ".", "nan", "NaN"]
OUTPUTS = ("train", "validation", "test", "pipeline", "baseline")


def bare(frame):
    """Names and values without the spaces around them, missing markers as NaN.

    Spaces around a field are insignificant, as serving reads a record (serving/features.py):
    `Dream, male ` is island Dream, sex male.
    """
    frame = frame.rename(columns=str.strip).apply(lambda column: column.str.strip())
    return frame.mask(frame.isin(MISSING))


def read_raw(input_dir: Path):
    """Every CSV in input_dir as one DataFrame, or JobError naming the file and column."""
    import pandas as pd

    files = sorted(p for p in input_dir.glob("*.csv") if p.is_file())
    if not files:
        raise JobError(f"{input_dir}: no CSV file in the processing input")
    frames = []
    for path in files:
        try:
            # skipinitialspace: a quote after a space still quotes, as in serving's CSV reader.
            frame = bare(pd.read_csv(path, dtype=str, na_filter=False, skipinitialspace=True))
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
            raise JobError(f"{path.name}: not a readable CSV file ({error})") from None
        missing = [c for c in (LABEL, *FEATURES) if c not in frame.columns]
        if missing:
            raise JobError(f"{path.name}: missing column {', '.join(missing)}")
        if frame.empty:
            raise JobError(f"{path.name}: no rows")
        for column in NUMERIC:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = numbers.isna() & frame[column].notna()
            if bad.any():
                row = int(bad.idxmax())
                raise JobError(f"{path.name}: column {column} has a non-numeric value "
                               f"{frame[column][row]!r} on data row {row + 1}")
            frame[column] = numbers
        frames.append(frame[[LABEL, *FEATURES]])
    return pd.concat(frames, ignore_index=True)


def split(data, seed: int):
    """Seeded stratified 70/15/15 split of the rows that have a label."""
    from sklearn.model_selection import train_test_split

    labelled = data[data[LABEL].notna()]
    if labelled.empty:
        raise JobError(f"column {LABEL}: no row has a label")
    counts = labelled[LABEL].value_counts()
    # Each split needs at least one row of each class: 7 rows make 70/15/15 possible.
    rare = counts[counts < 7]
    if not rare.empty:
        raise JobError(f"column {LABEL}: too few rows of {', '.join(map(str, rare.index))} "
                       "to split (at least 7 each)")
    train, rest = train_test_split(labelled, test_size=0.30, random_state=seed,
                                   stratify=labelled[LABEL])
    validation, test = train_test_split(rest, test_size=0.50, random_state=seed,
                                        stratify=rest[LABEL])
    return train, validation, test, len(data) - len(labelled)


def transformers(train):
    """The feature transformer (graph.transformer(), on marked frames) and the label encoder,
    fitted on the train split only."""
    from sklearn.preprocessing import LabelEncoder

    from training.model import graph

    features = graph.transformer().fit(graph.marked(train))
    target = LabelEncoder().fit(train[LABEL])
    return features, target


def matrix_csv(frame, features, target) -> str:
    """Headerless CSV, label code first: SageMaker's convention for CSV training data."""
    import numpy as np

    from training.model import graph

    labels = target.transform(frame[LABEL]).reshape(-1, 1)
    values = np.hstack([labels, features.transform(graph.marked(frame))])
    out = io.StringIO()
    np.savetxt(out, values, delimiter=",", fmt=["%d"] + ["%.10g"] * (values.shape[1] - 1))
    return out.getvalue()


def write_all(root: Path, files: dict) -> None:
    """Write every output; on any error remove what this run wrote."""
    written = []
    try:
        for relative, content in files.items():
            atomic_write(root / relative, content)
            written.append(root / relative)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def first_host(base: Path) -> tuple:
    """(whether this host processes, the chief's open port). With several instances
    (/opt/ml/config/resourceconfig.json) only the first processes, since the split and the
    transformers need every row; the others write nothing and wait for it to end (SageMaker
    local mode stops every host as soon as one exits)."""
    from training.model import distributed

    cluster = distributed.read_cluster(base, environ={}, config="config")
    if not cluster.multi:
        return True, None
    sharded = sharded_inputs(base / "config" / "processingjobconfig.json")
    if sharded:
        raise JobError(f"input {', '.join(sharded)} is ShardedByS3Key over "
                       f"{len(cluster.hosts)} instances: the split and the transformers need "
                       "every row; use FullyReplicated")
    if cluster.chief:
        print(f"host {cluster.current} of {len(cluster.hosts)} processes all the input")
        return True, distributed.chief_listening(cluster)
    print(f"host {cluster.current}: the processing job runs on {cluster.hosts[0]} only (the "
          "split and the transformers need every row); waiting for it to end", flush=True)
    distributed.wait_for_chief(cluster, [], seen=False)
    return False, None


def sharded_inputs(path: Path) -> list[str]:
    """The inputs processingjobconfig.json distributes ShardedByS3Key (none if no file)."""
    try:
        inputs = json.loads(path.read_text()).get("ProcessingInputs") or []
    except (OSError, ValueError, AttributeError):
        return []  # not written by every platform (make process): nothing sharded
    return [item.get("InputName", "?") for item in inputs if isinstance(item, dict) and
            (item.get("S3Input") or {}).get("S3DataDistributionType") == "ShardedByS3Key"]


def main(argv: list[str] | None = None) -> int:
    from training.workloads import registry as workloads

    parser = argparse.ArgumentParser(prog="process", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workload", default=workloads.DEFAULT,
                        help=f"one of {', '.join(workloads.WORKLOADS)}")
    args = parser.parse_args(argv)
    base = base_dir()
    root = base / "processing"
    try:
        processes, _listening = first_host(base)  # the chief's port stays open till exit
        if not processes:
            return 0
        workload = workloads.get(args.workload)
        files, summary, facts = workload.process_outputs(root / "input", args.seed)
        files[f"pipeline/{workloads.FACTS}"] = json.dumps(
            {"workload": workload.NAME, **facts}, indent=2) + "\n"
        write_all(root, files)
    except JobError as error:
        return fail(base / "output" / "message", str(error))
    except OSError as error:
        return fail(base / "output" / "message", f"cannot write outputs: {error}")
    print(summary)
    for relative in files:
        print(f"wrote {root / relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
