"""Processing job: raw data -> seeded stratified splits, the fitted transformers, workload.json.

`--workload` picks the workload (training/workloads/registry.py); its process_outputs() reads
/opt/ml/processing/input and gives train/, validation/, test/ (headerless, label first),
pipeline/ and, for Penguins, baseline/; this module adds pipeline/workload.json, which tells
the training job the workload. Everything is validated and computed before the first file is
written.
The Penguins reading rules (read_raw, split, ...) live in
training/workloads/penguins/data.py.
"""

import argparse
import json
import sys
from pathlib import Path

from training.contract.jobio import JobError, atomic_write, base_dir, fail

OUTPUTS = ("train", "validation", "test", "pipeline", "baseline")


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
