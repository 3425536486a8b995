"""The local S3's numbers in docs/s3.md: a 1 GB object up and down (boto3's default transfer:
8 MB multipart, 10 threads) and 10,000 small objects put and listed (ListObjectsV2 pages of
1000), with the server's resident and peak memory from /proc. Run by hand, not by the suite:

    .venv/bin/python tests/bench_s3.py                            # our server, started here
    .venv/bin/python tests/bench_s3.py --endpoint URL --pid PID   # any other S3 server
"""

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
from pipeline.s3 import service  # noqa: E402


def memory(pid: int) -> str:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines())
    return f"rss {status['VmRSS'].strip()}, peak {status['VmHWM'].strip()}"


def measure(endpoint: str, pid: int, work: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=os.environ.get("KEY", "any"),
                      aws_secret_access_key=os.environ.get("SECRET", "any"),
                      config=Config(max_pool_connections=16))
    s3.create_bucket(Bucket="measure")
    source, back = work / "big.bin", work / "back.bin"
    with source.open("wb") as file:
        for _ in range(1024):
            file.write(os.urandom(1 << 20))
    start = time.monotonic()
    s3.upload_file(str(source), "measure", "big/one.bin")
    print(f"1 GB up    {time.monotonic() - start:6.1f} s   {memory(pid)}", flush=True)
    start = time.monotonic()
    s3.download_file("measure", "big/one.bin", str(back))
    print(f"1 GB down  {time.monotonic() - start:6.1f} s   {memory(pid)}", flush=True)
    assert back.stat().st_size == source.stat().st_size
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="measure", Key=f"small/{i:05d}.json",
                                              Body=b'{"i": %d}' % i), range(10000)))
    print(f"10k puts   {time.monotonic() - start:6.1f} s   {memory(pid)}", flush=True)
    start, count = time.monotonic(), 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="measure", Prefix="small/"):
        count += page["KeyCount"]
    assert count == 10000, count
    print(f"10k listed {time.monotonic() - start:6.1f} s   {memory(pid)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint")
    parser.add_argument("--pid", type=int)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if options.endpoint:
            measure(options.endpoint, options.pid, Path(work))
            return
        root = Path(work) / "s3"
        state = service.start(root, int(os.environ.get("S3_PORT", "9000")))
        try:
            measure(service.endpoint(state["port"]), state["pid"], Path(work))
        finally:
            service.stop(root)


if __name__ == "__main__":
    main()
