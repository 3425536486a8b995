"""The SageMaker Python SDK (2.x or 3.x) as `make sdk-pipeline` runs it to build a definition:
its defaults from sdk-config.yaml (no telemetry calls from an offline machine) unless you set
SAGEMAKER_USER_CONFIG_OVERRIDE yourself, and its config schema checked once.

Both SDKs check their config against their JSON schema on every default they look up, and
jsonschema.validate checks the schema itself against its meta-schema first each time: 80-odd
times, about 60 ms of CPU each, for the example pipeline's definition (5 of its 9 s). The schema
is a constant of the SDK; it is checked on its first use, and every config is still validated
against it on every lookup, as the SDK asks.
"""

import os
from pathlib import Path

SDK_CONFIG = Path(__file__).with_name("sdk-config.yaml")
_checked: dict[int, object] = {}  # id -> the schema, kept so that its id is never reused


def validate(instance, schema, cls=None, *args, **kwargs):
    """jsonschema.validate, the schema checked on its first use only."""
    import jsonschema

    if cls is None:
        cls = jsonschema.validators.validator_for(schema)
    if _checked.get(id(schema)) is not schema:
        cls.check_schema(schema)
        _checked[id(schema)] = schema
    error = jsonschema.exceptions.best_match(cls(schema, *args, **kwargs).iter_errors(instance))
    if error is not None:
        raise error


def prepare() -> None:
    """Set the SDK up before a pipeline file imports it."""
    os.environ.setdefault("SAGEMAKER_USER_CONFIG_OVERRIDE", str(SDK_CONFIG))
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import jsonschema

    jsonschema.validate = validate
