"""A user's record preprocessor (`record_preprocessor_script`), as SageMaker's custom script.

The script defines `preprocess_handler(inference_record)` (or `(inference_record, logger)`),
called once per captured request. `inference_record.endpoint_input` / `.endpoint_output` have
`data`, `encoding`, `observedContentType` and `mode`; `.event_metadata` has `event_id`,
`inference_id` and `inference_time`; `.event_version`. It returns a dict of feature -> value
(one record), a list of such dicts (several), or None / {} / [] to leave the request out.
"""

import importlib.util
import inspect
import logging
import math
from pathlib import Path
from types import SimpleNamespace

from training.contract.jobio import JobError

HANDLER = "preprocess_handler"
COLUMNS = ("data", "encoding", "input_type", "output_data", "output_encoding", "output_type",
           "event_id", "inference_id", "time", "version")


def load(path: Path):
    """The script's handler, called as SageMaker calls it; JobError naming what is wrong."""
    if not path.is_file():
        raise JobError(f"record_preprocessor_script {path}: no such file")
    spec = importlib.util.spec_from_file_location("record_preprocessor", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a user's script raises anything
        raise JobError(f"record_preprocessor_script {path.name}: cannot load it "
                       f"({type(error).__name__}: {error})") from None
    handler = getattr(module, HANDLER, None)
    if not callable(handler):
        raise JobError(f"record_preprocessor_script {path.name}: defines no {HANDLER}"
                       "(inference_record)")
    takes_logger = len(inspect.signature(handler).parameters) >= 2
    logger = logging.getLogger("record_preprocessor")
    return (lambda record: handler(record, logger)) if takes_logger else handler


def inference_record(row: dict) -> SimpleNamespace:
    def channel(data, encoding, kind, mode):
        return SimpleNamespace(data=data, encoding=encoding, observedContentType=kind, mode=mode)

    return SimpleNamespace(
        endpoint_input=channel(row["data"], row["encoding"], row["input_type"], "INPUT"),
        endpoint_output=channel(row["output_data"], row["output_encoding"], row["output_type"],
                                "OUTPUT"),
        event_metadata=SimpleNamespace(event_id=row["event_id"], inference_id=row["inference_id"],
                                       inference_time=row["time"]),
        event_version=row["version"])


def as_text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).strip()


def features(con, path: Path):
    """Every captured request through the script: a frame of strings, one column a feature."""
    import pandas as pd

    handler = load(path)
    rows = []
    cursor = con.execute(f"SELECT {', '.join(COLUMNS)} FROM captured")
    number = 0
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            number += 1
            record = dict(zip(COLUMNS, values, strict=True))
            try:
                result = handler(inference_record(record))
            except Exception as error:  # the user's code
                raise JobError(f"record_preprocessor_script {path.name}: {HANDLER} failed on "
                               f"captured request {number} (eventId {record['event_id']}): "
                               f"{type(error).__name__}: {error}") from None
            for item in ([result] if isinstance(result, dict) else result or []):
                if not isinstance(item, dict):
                    raise JobError(f"record_preprocessor_script {path.name}: {HANDLER} returned "
                                   f"{type(item).__name__} for request {number}; return a dict "
                                   "of feature -> value (or a list of them)")
                rows.append({str(k): as_text(v) for k, v in item.items()})
    return pd.DataFrame.from_records(rows).astype("string")
