"""`make bench-tune`: the wall time of the workload's tuning job with MaxParallelTrainingJobs 1
and 2 on this machine, and the ratio.

Both runs use the workload's default file with the Random strategy and one RandomSeed, so they
train the same trials; only the parallelism differs. The figures go to `<local>/bench-tune.json`.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pipeline.runs import records as runs
from pipeline.tuning import job as tuning


def main(argv: list[str] | None = None) -> int:
    top = tuning.parser()
    top.prog = "pipeline.tuning.bench"
    top.add_argument("--out", type=Path, required=True)
    args = top.parse_args(["tune", *(argv if argv is not None else sys.argv[1:])])
    document = json.loads(args.config.read_text())
    settings = document["HyperParameterTuningJobConfig"]
    settings.update(Strategy="Random", RandomSeed=settings.get("RandomSeed", 1))
    figures = {"workload": args.workload, "config": str(args.config), "cpus": os.cpu_count(),
               "trials": settings["ResourceLimits"]["MaxNumberOfTrainingJobs"]}
    stamp = f"{runs.now():%H%M%S}"
    with tempfile.TemporaryDirectory() as scratch:
        for parallel in (1, 2):
            settings["ResourceLimits"]["MaxParallelTrainingJobs"] = parallel
            path = Path(scratch) / f"parallel-{parallel}.json"
            path.write_text(json.dumps(document))
            args.config, args.tuning_job = path, f"bench-p{parallel}-{stamp}"
            started = time.monotonic()
            if tuning.tune(args) != 0:
                print(f"bench-tune: tuning job {args.tuning_job} did not complete",
                      file=sys.stderr)
                return 1
            figures[f"parallel_{parallel}_seconds"] = round(time.monotonic() - started, 1)
    figures["speedup"] = round(figures["parallel_1_seconds"] / figures["parallel_2_seconds"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{figures['trials']} trials on {figures['cpus']} CPUs: "
          f"MaxParallelTrainingJobs 1 {figures['parallel_1_seconds']} s, "
          f"2 {figures['parallel_2_seconds']} s, speed-up x{figures['speedup']} "
          f"({args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
