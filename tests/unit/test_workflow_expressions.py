"""Pipeline definitions read and checked, expressions and conditions evaluated, in-process."""

import json

import pytest

from pipeline.workflow import conditions, definition
from pipeline.workflow.expressions import ExpressionError, Resolver, Scope, parts

pytestmark = pytest.mark.pipeline

PROPERTIES = {
    "process": {"ProcessingJobName": "p-1", "ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "train", "S3Output": {"S3Uri": "s3://bkt/train"}},
        {"OutputName": "test", "S3Output": {"S3Uri": "s3://bkt/test"}}]}},
    "train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://bkt/m/model.tar.gz"},
              "HyperParameters": {"epochs": "3"},
              "FinalMetricDataList": [{"MetricName": "val:acc", "Value": 0.9}]},
    "tune": {"TrainingJobSummaries": [{"TrainingJobName": "best"}, {"TrainingJobName": "next"}],
             "BestTrainingJob": {"TrainingJobName": "best"}},
    "deploy": {"OutputParameters": {"endpoint": "penguins"}},
}
FILES = {("evaluate", "Report"): {"metrics": {"accuracy": {"value": 0.93}},
                                  "classes": [{"name": "Adelie", "f1": 0.8}]}}
READS = {"s3://bkt/report.json": json.dumps({"mse": [0.5, 0.25]}).encode()}


def scope():
    return Scope(parameters={"Threshold": 0.9, "Epochs": 3, "Data": "s3://bkt/data",
                             "Deploy": True},
                 execution={"PipelineExecutionId": "abc123", "PipelineName": "penguins"},
                 properties=lambda step: PROPERTIES[step],
                 property_file=lambda step, name: FILES[step, name],
                 read=lambda uri: READS[uri],
                 experiment={"ExperimentName": "penguins"})


EXPRESSIONS = [
    ("a parameter", {"Get": "Parameters.Threshold"}, 0.9),
    ("an execution variable", {"Get": "Execution.PipelineExecutionId"}, "abc123"),
    ("the experiment name", {"Get": "PipelineExperimentConfig.ExperimentName"}, "penguins"),
    ("a processing output by name",
     {"Get": "Steps.process.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
     "s3://bkt/train"),
    ("a name in double quotes",
     {"Get": 'Steps.process.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri'},
     "s3://bkt/test"),
    ("a model artifact", {"Get": "Steps.train.ModelArtifacts.S3ModelArtifacts"},
     "s3://bkt/m/model.tar.gz"),
    ("a map key", {"Get": "Steps.train.HyperParameters['epochs']"}, "3"),
    ("a metric by name", {"Get": "Steps.train.FinalMetricDataList['val:acc'].Value"}, 0.9),
    ("a list index", {"Get": "Steps.tune.TrainingJobSummaries[1].TrainingJobName"}, "next"),
    ("a Lambda output", {"Get": "Steps.deploy.OutputParameters['endpoint']"}, "penguins"),
    ("a join of text, numbers and booleans",
     {"Std:Join": {"On": "/", "Values": ["s3:/", "bkt", {"Get": "Parameters.Epochs"},
                                         {"Get": "Parameters.Deploy"}]}}, "s3://bkt/3/true"),
    ("get_top_model_s3_uri's join",
     {"Std:Join": {"On": "/", "Values": ["s3:/", "bkt", "models", {
         "Get": "Steps.tune.TrainingJobSummaries[0].TrainingJobName"}, "output/model.tar.gz"]}},
     "s3://bkt/models/best/output/model.tar.gz"),
    ("a property file value",
     {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.Report"},
                      "Path": "metrics.accuracy.value"}}, 0.93),
    ("a property file list item",
     {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.Report"},
                      "Path": "classes[0].name"}}, "Adelie"),
    ("a JSON file by URI",
     {"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://bkt", "report.json"]}},
                      "Path": "mse[1]"}}, 0.25),
    ("arguments resolved whole, the rest kept",
     {"Inputs": [{"S3Uri": {"Get": "Parameters.Data"}, "Mode": "File"}], "Count": 1},
     {"Inputs": [{"S3Uri": "s3://bkt/data", "Mode": "File"}], "Count": 1}),
]


@pytest.mark.parametrize("expression,expected", [case[1:] for case in EXPRESSIONS],
                         ids=[case[0] for case in EXPRESSIONS])
def test_an_expression_has_the_value_sagemaker_gives_it(expression, expected):
    assert Resolver(scope()).resolve(expression) == expected


BAD_EXPRESSIONS = [
    ("an undeclared parameter", {"Get": "Parameters.Nope"}, "no such parameter"),
    ("an unknown execution variable", {"Get": "Execution.Nope"}, "not an execution variable"),
    ("an unknown root", {"Get": "Pipeline.Name"}, "unknown root"),
    ("a missing property", {"Get": "Steps.train.ModelArtifact.S3ModelArtifacts"},
     "no 'ModelArtifact' there (found: ['FinalMetricDataList'"),
    ("a missing output name",
     {"Get": "Steps.process.ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri"},
     "no 'validation' there"),
    ("an index past the end", {"Get": "Steps.tune.TrainingJobSummaries[5].TrainingJobName"},
     "no 5 there (found: 2 items)"),
    ("a bare step", {"Get": "Steps.train"}, "names a step"),
    ("a path that does not parse", {"Get": "Steps.train.ModelArtifacts..x"},
     "cannot read the property path"),
    ("a JSON path to nothing",
     {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.Report"},
                      "Path": "metrics.f1.value"}}, "nothing at 'metrics.f1.value'"),
    ("a JsonGet with neither file nor URI", {"Std:JsonGet": {"Path": "a"}},
     "needs a PropertyFile or an S3Uri"),
]


@pytest.mark.parametrize("expression,message", [case[1:] for case in BAD_EXPRESSIONS],
                         ids=[case[0] for case in BAD_EXPRESSIONS])
def test_an_expression_that_names_nothing_says_what_is_missing(expression, message):
    with pytest.raises(ExpressionError, match=None) as raised:
        Resolver(scope()).resolve(expression)
    assert message in str(raised.value)


def test_a_property_path_splits_into_names_keys_and_indexes():
    assert parts(".A.B['x y'][0][\"z\"]") == ["A", "B", "x y", 0, "z"]


def condition(kind, left, right):
    return {"Type": kind, "LeftValue": left, "RightValue": right}


ACCURACY = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.Report"},
                            "Path": "metrics.accuracy.value"}}
THRESHOLD = {"Get": "Parameters.Threshold"}
CONDITIONS = [
    ("GreaterThanOrEqualTo on a property file and a parameter",
     condition("GreaterThanOrEqualTo", ACCURACY, THRESHOLD), True),
    ("GreaterThan, false", condition("GreaterThan", THRESHOLD, ACCURACY), False),
    ("GreaterThanOrEqualTo on equal values", condition("GreaterThanOrEqualTo", 0.9, THRESHOLD),
     True),
    ("LessThan", condition("LessThan", THRESHOLD, ACCURACY), True),
    ("LessThanOrEqualTo, false", condition("LessThanOrEqualTo", ACCURACY, 0.5), False),
    ("Equals on an integer and a float", condition("Equals", {"Get": "Parameters.Epochs"}, 3.0),
     True),
    ("Equals on a number written as text", condition("Equals", "3", {"Get": "Parameters.Epochs"}),
     True),
    ("Equals on strings", condition("Equals", {"Get": "Execution.PipelineName"}, "penguins"),
     True),
    ("Equals on booleans", condition("Equals", {"Get": "Parameters.Deploy"}, False), False),
    ("In, found", {"Type": "In", "QueryValue": {"Get": "Parameters.Epochs"},
                   "Values": [1, 2, 3]}, True),
    ("In, not found among mixed types", {"Type": "In", "QueryValue": "x",
                                         "Values": [1, "y", {"Get": "Parameters.Data"}]}, False),
    ("Not", {"Type": "Not", "Condition": condition("LessThan", ACCURACY, THRESHOLD)}, True),
    ("Or, one holds", {"Type": "Or", "Conditions": [condition("Equals", 1, 2),
                                                    condition("Equals", 2, 2)]}, True),
    ("Or, none holds", {"Type": "Or", "Conditions": [condition("Equals", 1, 2)]}, False),
    ("Not of Or", {"Type": "Not", "Condition": {"Type": "Or", "Conditions": [
        condition("Equals", 1, 2)]}}, True),
]


@pytest.mark.parametrize("spec,expected", [case[1:] for case in CONDITIONS],
                         ids=[case[0] for case in CONDITIONS])
def test_a_condition_holds_as_sagemaker_evaluates_it(spec, expected):
    assert conditions.evaluate(spec, Resolver(scope()).resolve) is expected


def test_a_condition_list_holds_only_when_every_condition_holds():
    resolve = Resolver(scope()).resolve
    assert conditions.all_hold([condition("Equals", 1, 1), condition("Equals", 2, 2)], resolve)
    assert not conditions.all_hold([condition("Equals", 1, 1), condition("Equals", 1, 2)],
                                   resolve)


BAD_CONDITIONS = [
    ("an unknown type", {"Type": "IsNull", "Value": 1}, "'IsNull' is not one of"),
    ("a number against text", condition("GreaterThan", 1, "abc"), "cannot compare 1 with 'abc'"),
    ("a boolean against a number", condition("Equals", True, 1), "cannot compare True with 1"),
    ("a missing side", {"Type": "Equals", "LeftValue": 1}, "needs LeftValue and RightValue"),
    ("Not without its condition", {"Type": "Not"}, "needs a Condition"),
    ("an empty Or", {"Type": "Or", "Conditions": []}, "needs a non-empty Conditions list"),
    ("In without a list", {"Type": "In", "QueryValue": 1, "Values": 1}, "Values must be a list"),
    ("an expression that fails", condition("Equals", {"Get": "Parameters.Nope"}, 1),
     "no such parameter"),
]


@pytest.mark.parametrize("spec,message", [case[1:] for case in BAD_CONDITIONS],
                         ids=[case[0] for case in BAD_CONDITIONS])
def test_a_condition_that_cannot_be_evaluated_says_why(spec, message):
    with pytest.raises(conditions.ConditionError) as raised:
        conditions.evaluate(spec, Resolver(scope()).resolve)
    assert message in str(raised.value)


def step(name, kind="Processing", **fields):
    return {"Name": name, "Type": kind, "Arguments": fields.pop("Arguments", {}), **fields}


def test_a_step_waits_for_what_it_reads_and_what_it_names_and_its_condition():
    parsed = definition.parse({"Parameters": [{"Name": "T", "Type": "Float",
                                               "DefaultValue": 0.5}], "Steps": [
        step("a"),
        step("b", Arguments={"In": {"Get": "Steps.a.ProcessingOutputConfig.Outputs['x']"}}),
        step("c", DependsOn=["a"]),
        step("check", "Condition", Arguments={
            "Conditions": [condition("GreaterThan", {"Get": "Steps.b.Outcome"},
                                     {"Get": "Parameters.T"})],
            "IfSteps": [step("yes")], "ElseSteps": [step("no", "Fail")]}),
    ]})
    assert {name: s.depends_on for name, s in parsed.steps.items()} == {
        "a": set(), "b": {"a"}, "c": {"a"}, "check": {"b"}, "yes": {"check"}, "no": {"check"}}
    assert parsed.steps["no"].branch_of == ("check", "ElseSteps")
    assert parsed.downstream("a") == {"b", "c", "check", "yes", "no"}


BAD_DEFINITIONS = [
    ("no steps list", {"Steps": {}}, "an object with a Steps list"),
    ("a bad step name", {"Steps": [step("a.b")]}, "Steps[0].Name: 'a.b' is not a step name"),
    ("two steps of one name", {"Steps": [step("a"), step("a")]}, "step a: the name is used by"),
    ("a dependency on nothing", {"Steps": [step("a", DependsOn=["ghost"])]},
     "step a: reads or depends on step 'ghost'"),
    ("a read of nothing", {"Steps": [step("a", Arguments={"x": {"Get": "Steps.ghost.X"}})]},
     "step 'ghost'"),
    ("an undeclared parameter", {"Steps": [step("a", Arguments={"x": {"Get": "Parameters.P"}})]},
     "step a: uses parameter 'P'"),
    ("a bad parameter type", {"Parameters": [{"Name": "P", "Type": "Number"}], "Steps": []},
     "parameter P: Type 'Number'"),
    ("a circle", {"Steps": [step("a", DependsOn=["b"]), step("b", DependsOn=["a"])]},
     "steps wait for each other in a circle: a, b"),
    ("a condition without conditions", {"Steps": [step("c", "Condition")]},
     "step c.Arguments.Conditions: expected a list"),
    ("a bad DependsOn", {"Steps": [step("a", DependsOn="b")]}, "step a.DependsOn"),
]


@pytest.mark.parametrize("raw,message", [case[1:] for case in BAD_DEFINITIONS],
                         ids=[case[0] for case in BAD_DEFINITIONS])
def test_a_definition_that_cannot_run_is_refused_naming_the_step(raw, message):
    with pytest.raises(definition.DefinitionError) as raised:
        definition.parse(raw)
    assert message in str(raised.value)
