"""A local S3: `s3://bucket/key` offline, each object the plain file LOCAL_DIR/s3/<bucket>/<key>.

Owns store.py (buckets as folders, objects as files, their ETag and headers in a hidden
sidecar, multipart uploads), listing.py (ListObjects paging over sorted keys), server.py (the
S3 REST API on werkzeug: SigV4 requests with any credentials), service.py (start, stop and the
client environment of the background server: `make s3`, `make s3-stop`, `make env`) and
transfer.py (a prefix down into a folder and a folder up under a prefix, where SageMaker puts
a job's inputs and outputs). It imports only pipeline.runs below it.
"""
