"""pipeline/workflow/sdk.py: the SDK's config schema is checked on its first use only, while
every config is still validated against it, as jsonschema.validate validates."""

import os

import jsonschema
import pytest

from pipeline.workflow import sdk

pytestmark = pytest.mark.pipeline

SCHEMA = {"type": "object", "properties": {"SchemaVersion": {"enum": ["1.0"]}},
          "required": ["SchemaVersion"]}


class Counted(jsonschema.Draft202012Validator):
    checks = 0

    @classmethod
    def check_schema(cls, schema, *args, **kwargs):
        Counted.checks += 1
        return super().check_schema(schema, *args, **kwargs)


def test_the_schema_is_checked_once_and_every_instance_validated_every_time():
    schema = dict(SCHEMA)
    Counted.checks = 0
    for _ in range(3):
        sdk.validate({"SchemaVersion": "1.0"}, schema, cls=Counted)
    assert Counted.checks == 1
    with pytest.raises(jsonschema.ValidationError, match="'2.0' is not one of"):
        sdk.validate({"SchemaVersion": "2.0"}, schema, cls=Counted)
    with pytest.raises(jsonschema.ValidationError, match="'SchemaVersion' is a required"):
        sdk.validate({}, schema, cls=Counted)
    assert Counted.checks == 1
    sdk.validate({"SchemaVersion": "1.0"}, dict(SCHEMA), cls=Counted)  # another schema
    assert Counted.checks == 2


@pytest.mark.parametrize("instance", [{"SchemaVersion": "1.0"}, {"SchemaVersion": 1}, {}, []])
def test_it_answers_as_jsonschema_validate_does(instance):
    def outcome(validate):
        try:
            validate(instance, SCHEMA)
        except jsonschema.ValidationError as error:
            return error.message, list(error.absolute_path)
        return None

    assert outcome(sdk.validate) == outcome(jsonschema.validators.validate)


def test_a_broken_schema_is_refused_on_its_first_use():
    with pytest.raises(jsonschema.SchemaError):
        sdk.validate({}, {"type": "no such type"})


def test_prepare_keeps_a_config_override_of_your_own(monkeypatch, tmp_path):
    # All three are put back afterwards.
    monkeypatch.setattr(jsonschema, "validate", jsonschema.validators.validate)
    monkeypatch.delenv("SAGEMAKER_SUPPRESS_V2_WARNING", raising=False)
    mine = tmp_path / "config.yaml"
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(mine))
    sdk.prepare()
    assert os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] == str(mine)
    assert jsonschema.validate is sdk.validate
    monkeypatch.delenv("SAGEMAKER_USER_CONFIG_OVERRIDE")
    sdk.prepare()
    assert os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] == str(sdk.SDK_CONFIG)
