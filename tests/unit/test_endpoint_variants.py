"""Production variants in-process: the endpoint config and VARIANTS= as SageMaker's API takes
them, new weights, the router's split they become, and the metrics the router counts."""

import re
import shlex

import pytest

from pipeline.endpoints import deployments, variants
from pipeline.endpoints.metrics import table
from pipeline.endpoints.variants import VariantError
from pipeline.runs import jobrun
from serving import metrics

pytestmark = pytest.mark.pipeline


def config(**fields) -> dict:
    item = {"VariantName": "v3", "ModelName": "3", **fields}
    return {"ProductionVariants": [item]}


def test_the_shorthand_is_the_endpoint_config_it_stands_for():
    assert variants.shorthand("v3:90 v4:10:2") == [
        {"VariantName": "v3", "Model": {"version": 3}, "Weight": 90.0, "Instances": 1},
        {"VariantName": "v4", "Model": {"version": 4}, "Weight": 10.0, "Instances": 2}]
    assert variants.shorthand("5:1")[0]["VariantName"] == "v5"


def test_an_endpoint_config_takes_sagemaker_fields_and_a_model_archive():
    found = variants.endpoint_config({"EndpointConfigName": "ab", "ProductionVariants": [
        {"VariantName": "Control", "ModelName": "/m/model.tar.gz", "InitialVariantWeight": 0.5,
         "InitialInstanceCount": 3, "InstanceType": "ml.m5.large"},
        {"VariantName": "Challenger", "ModelName": "v2"}]})
    assert found == [
        {"VariantName": "Control", "Model": {"archive": "/m/model.tar.gz"}, "Weight": 0.5,
         "Instances": 3},
        {"VariantName": "Challenger", "Model": {"version": 2}, "Weight": 1.0, "Instances": 1}]


REFUSED = {
    "not-an-object": ([], "the endpoint config is not a JSON object"),
    "unknown-config-field": ({"ProductionVariants": [], "Colour": 1},
                             "Colour: not a field of an endpoint config here"),
    "no-variants": ({"ProductionVariants": []}, "ProductionVariants: give a list of 1 to 10"),
    "eleven-variants": ({"ProductionVariants": [{"VariantName": f"v{n}", "ModelName": "1"}
                                                for n in range(11)]},
                        "ProductionVariants: give a list of 1 to 10"),
    "unknown-variant-field": (config(Weight=1),
                              "ProductionVariants[0].Weight: not a field of a production"),
    "bad-name": (config(VariantName="-v3"), "ProductionVariants[0].VariantName: '-v3' is not"),
    "bad-model": (config(ModelName="latest"), "ProductionVariants[0].ModelName: 'latest' is "
                                              "neither a registered version"),
    "negative-weight": (config(InitialVariantWeight=-1),
                        "ProductionVariants[0].InitialVariantWeight: -1 is not a weight"),
    "weight-as-text": (config(InitialVariantWeight="9"),
                       "ProductionVariants[0].InitialVariantWeight: '9' is not a weight"),
    "no-instance": (config(InitialInstanceCount=0),
                    "ProductionVariants[0].InitialInstanceCount: 0 is not an instance count"),
    "too-many-instances": (config(InitialInstanceCount=9),
                           "ProductionVariants[0].InitialInstanceCount: 9 is not an instance"),
    "all-zero": (config(InitialVariantWeight=0), "every variant weighs 0"),
    "same-name-twice": ({"ProductionVariants": [{"VariantName": "A", "ModelName": "1"},
                                                {"VariantName": "a", "ModelName": "2"}]},
                        "VariantName 'a' is given twice (as 'A')"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_an_endpoint_config_that_cannot_be_served_names_what_is_wrong(name):
    body, said = REFUSED[name]
    with pytest.raises(VariantError) as raised:
        variants.endpoint_config(body)
    assert str(raised.value).startswith(said), str(raised.value)


@pytest.mark.parametrize("text, said", [
    ("", "VARIANTS is empty"),
    ("v3", "VARIANTS: 'v3' is not version:weight[:instances]"),
    ("v3:ninety", "VARIANTS: 'v3:ninety': 'ninety' is not a weight"),
    ("v3:1:two", "VARIANTS: 'v3:1:two': 'two' is not an instance count"),
    ("v3:1:2:3", "VARIANTS: 'v3:1:2:3' is not version:weight[:instances]"),
])
def test_a_shorthand_that_cannot_be_read_names_the_token(text, said):
    with pytest.raises(VariantError) as raised:
        variants.shorthand(text)
    assert str(raised.value).startswith(said)


def test_new_weights_change_the_named_variants_and_keep_the_others():
    served = variants.shorthand("v1:90 v2:10 v3:0")
    changed = variants.new_weights("v1:50 v3:50", served)
    assert [(item["VariantName"], item["Weight"]) for item in changed] == [
        ("v1", 50.0), ("v2", 10.0), ("v3", 50.0)]
    with pytest.raises(VariantError, match="the endpoint has no variant 'v9'; it has v1, v2"):
        variants.new_weights("v9:1", served)
    with pytest.raises(VariantError, match="every variant weighs 0"):
        variants.new_weights("v1:0 v2:0", served)
    scaled = variants.new_weights("v2:10:3", served)
    assert [(item["VariantName"], item["Instances"]) for item in scaled] == [
        ("v1", 1), ("v2", 3), ("v3", 1)]
    for token, said in (("v1:1:0", "0 is not an instance count"),
                        ("v1:1:x", "'x' is not an instance count"),
                        ("v1:", "is not variant:weight[:instances]"),
                        ("v1:1:2:3", "is not variant:weight[:instances]")):
        with pytest.raises(VariantError, match=re.escape(said)):
            variants.new_weights(token, served)


@pytest.mark.parametrize("weights, expected", [
    ("v1:90 v2:10", [("90.00%", "v1"), ("*", "v2")]),
    ("v1:1 v2:1 v3:1", [("33.33%", "v1"), ("33.33%", "v2"), ("*", "v3")]),
    ("v1:0 v2:3", [("*", "v2")]),
    ("v1:0.5", [("*", "v1")]),
    ("v1:1 v2:99999", [("*", "v2")]),  # a share under nginx's hundredth gets nothing
])
def test_shares_are_each_weight_over_their_sum(weights, expected):
    assert variants.shares(variants.shorthand(weights)) == expected


def test_the_split_names_each_variant_its_hosts_and_the_target_header():
    found = [{**item, "Hosts": [variants.service(item["VariantName"])]}
             for item in variants.shorthand("v1:90 v2:10:2")]
    conf = variants.upstream_conf(found)
    assert "upstream route_v2 {\n    server variant-v2:8080;\n    keepalive 32;\n}" in conf
    assert '    90.00% v1;\n    * v2;\n' in conf
    assert "map $http_x_amzn_sagemaker_target_variant $route" in conf
    assert '    "" $weighted_route;\n    v1 v1;\n    v2 v2;\n    default "";' in conf
    assert "map $route $variant {\n    v1 v1;\n    v2 v2;" in conf
    assert 'default "v1, v2";' in conf


def test_a_deploy_shifting_one_variant_splits_it_between_colours():
    from pipeline.endpoints.bluegreen import colour_variants

    conf = variants.upstream_conf(colour_variants("blue", 90) + colour_variants("green", 10))
    assert "upstream route_blue {\n    server blue:8080;" in conf
    assert '    90.00% blue;\n    * green;\n' in conf
    assert 'split_clients "${request_id}" $variant_split_0 {\n    90.00% blue;\n    * green;\n}' \
        in conf
    assert "    AllTraffic $variant_split_0;" in conf
    assert "map $route $variant {\n    blue AllTraffic;\n    green AllTraffic;" in conf
    assert 'default "AllTraffic";' in conf


def test_a_caller_targeting_a_shifting_variant_gets_that_variant_only():
    conf = variants.upstream_conf([
        {"VariantName": "v1", "Weight": 45, "Hosts": ["variant-v1"]},
        {"VariantName": "v1", "Route": "v1_1", "Weight": 5, "Hosts": ["variant-v1_1"]},
        {"VariantName": "v2", "Weight": 50, "Hosts": ["variant-v2"]}])
    assert '    45.00% v1;\n    5.00% v1_1;\n    * v2;\n' in conf
    assert 'split_clients "${request_id}" $variant_split_0 {\n    90.00% v1;\n    * v1_1;\n}' \
        in conf
    assert "    v1 $variant_split_0;\n    v2 v2;\n" in conf
    assert "map $route $variant {\n    v1 v1;\n    v1_1 v1;\n    v2 v2;" in conf
    assert 'default "v1, v2";' in conf


def test_a_live_config_of_variants_has_nothing_to_roll_back_to():
    history = {"live": None, "deployments": []}
    deployments.record(history, "serve", "variants", {"variants": [
        {"VariantName": "v1", "Weight": 1.0}]}, None)
    with pytest.raises(deployments.HistoryError, match="serves variants"):
        deployments.rollback_target(history)
    assert deployments.describe(deployments.live(history)) == "variants v1 (weight 1)"


LINES = [
    ("v1 200 0.004 0.003", ("v1", 200, 3000, 1000)),
    ("v2 400 0.002 0.002", ("v2", 400, 2000, 0)),
    ("v1 503 0.010 -", ("v1", 503, None, None)),
    ("v1 200 0.020 0.001, 0.015", ("v1", 200, 15000, 5000)),
    ("- 502 0.001 -", None),  # the router's own error: no variant answered
    ("garbage", None),
]


@pytest.mark.parametrize("line, expected", LINES)
def test_a_metrics_line_is_a_variant_status_and_two_latencies(line, expected):
    assert metrics.parse(line) == expected


def test_metrics_count_per_variant_in_cloudwatch_names_and_units():
    found = metrics.Metrics(clock=lambda: 3600 * 24 + 59)
    found.add(line for line, _ in LINES)
    facts = {"EndpointName": "ep", "Variants": {"v1": 2, "v2": 1, "v3": 1}}
    text = found.prometheus(facts)

    def sample(name: str, variant: str, extra: str = "") -> str:
        labels = re.escape(f'endpoint="ep",variant="{variant}"{extra}')
        return re.search(rf"^{name}{{{labels}}} (\S+)$", text, re.M).group(1)

    assert sample("sagemaker_invocations_total", "v1") == "3"
    assert sample("sagemaker_invocations_per_instance_total", "v1") == "1.5"
    assert sample("sagemaker_invocations_total", "v3") == "0"  # configured, no traffic yet
    assert sample("sagemaker_invocation_4xx_errors_total", "v2") == "1"
    assert sample("sagemaker_invocation_5xx_errors_total", "v1") == "1"
    assert sample("sagemaker_model_latency_microseconds_sum", "v1") == "18000"
    assert sample("sagemaker_model_latency_microseconds_count", "v1") == "2"
    assert sample("sagemaker_model_latency_microseconds_bucket", "v1", ',le="5000"') == "1"
    assert sample("sagemaker_model_latency_microseconds_bucket", "v1", ',le="+Inf"') == "2"
    assert sample("sagemaker_overhead_latency_microseconds_sum", "v1") == "6000"
    rows = found.minutes(facts)
    assert [(row["Timestamp"], row["VariantName"], row["Invocations"]) for row in rows] == [
        ("1970-01-02T00:00:00Z", "v1", 3), ("1970-01-02T00:00:00Z", "v2", 1)]
    assert rows[0]["ModelLatency"] == 9000 and rows[0]["ModelLatencyMaximum"] == 15000
    printed = table(rows)
    assert "endpoint ep" in printed and "9,000" in printed


def test_lines_that_repeat_count_as_often_as_they_came_as_one_at_a_time_would():
    lines = [line for line, _ in LINES] * 7 + ["v1 200 0.004 0.003"] * 50
    together, alone = (metrics.Metrics(clock=lambda: 3600.0) for _ in range(2))
    together.add(lines)
    for line in lines:
        alone.add([line])
    assert together.totals == alone.totals and together.by_minute == alone.by_minute
    assert together.totals["v1"]["Invocations"] == 3 * 7 + 50
    # 3 ms, the first line's model time, falls in the 5 ms bucket: 7 times, then 50.
    assert together.totals["v1"]["ModelLatency"]["buckets"][metrics.BUCKETS.index(5_000)] == 57


def test_minutes_older_than_an_hour_are_forgotten():
    now = [0.0]
    found = metrics.Metrics(clock=lambda: now[0])
    found.add(["v1 200 0.001 0.001"])
    now[0] = 3600.0
    found.add(["v1 200 0.001 0.001"])
    assert [row["Timestamp"] for row in found.minutes({})] == ["1970-01-01T01:00:00Z"]
    assert "sagemaker_invocations_total" in found.prometheus({})


def variants_history(*models: dict) -> dict:
    """A history whose deployments serve v1 and v2 with these {variant: sha256} in turn."""
    history = {"live": None, "deployments": []}
    for index, shas in enumerate(models):
        deployments.record(history, "serve" if index == 0 else "deploy", "variants", {
            "variants": [{"VariantName": name, "Weight": 1.0, "Instances": 1, "sha256": sha,
                          "archive": f"/{sha}.tar.gz", "version": None}
                         for name, sha in shas.items()]},
            history["live"])
    return history


def test_a_deploy_onto_an_endpoint_of_variants_names_one_or_is_refused_naming_them():
    from pipeline.endpoints.bluegreen import EndpointError
    from pipeline.endpoints.updates import chosen_variant

    current = deployments.live(variants_history({"v1": "a", "v2": "b"}))
    assert chosen_variant(current, "v2", "deploy") == "v2"
    with pytest.raises(EndpointError, match=r"^make deploy on an endpoint of variants \(v1, "
                                            r"v2\) updates one variant's model: name it, e\.g\. "
                                            r"make deploy VARIANT=v2;"):
        chosen_variant(current, None, "deploy")
    with pytest.raises(EndpointError, match="VARIANT=v7: the endpoint has no variant 'v7'; it "
                                            "has v1, v2"):
        chosen_variant(current, "v7", "deploy")
    one = {"colour": "blue", "sha256": "a"}
    assert chosen_variant(one, None, "deploy") is None
    assert chosen_variant(one, "AllTraffic", "deploy") is None
    with pytest.raises(EndpointError, match="serves one model, variant AllTraffic"):
        chosen_variant(one, "v1", "deploy")


def test_a_variants_rollback_skips_weight_changes_and_needs_the_same_variants():
    from pipeline.endpoints.bluegreen import EndpointError
    from pipeline.endpoints.updates import rollback_target

    history = variants_history({"v1": "a", "v2": "b"}, {"v1": "a", "v2": "b"},
                               {"v1": "c", "v2": "b"})
    assert rollback_target(history, deployments.live(history))["id"] == 2
    history = variants_history({"v1": "a", "v2": "b"}, {"v1": "a", "v2": "b"})
    with pytest.raises(EndpointError, match="nothing to roll back to"):
        rollback_target(history, deployments.live(history))
    history = variants_history({"v1": "a"}, {"v1": "a", "v2": "b"})
    with pytest.raises(EndpointError, match="is not these variants; serve it again"):
        rollback_target(history, deployments.live(history))


def test_a_replaced_variant_runs_on_a_generation_of_its_own():
    first = {"VariantName": "Challenger"}
    later = {**first, "Generation": 2}
    assert (variants.service_of(first), variants.place_of(first)) == \
        ("variant-challenger", "variants/Challenger")
    assert (variants.service_of(later), variants.place_of(later)) == \
        ("variant-challenger_2", "variants/Challenger_2")
    # No variant name has an underscore: a generation never meets another variant's service.
    with pytest.raises(VariantError):
        variants.shorthand("v1_2:50")


def test_a_new_config_takes_services_the_live_one_does_not_use():
    from pipeline.endpoints.reconfigure import generations
    live = {"colour": "variants", "variants": [{"VariantName": "v1"},
                                               {"VariantName": "v2", "Generation": 1}]}
    found = generations(live, [{"VariantName": "V1"}, {"VariantName": "v2"},
                               {"VariantName": "v3"}])
    assert [variants.service_of(variant) for variant in found] == \
        ["variant-v1_1", "variant-v2", "variant-v3"]
    # From one model on a colour, every variant keeps its own name's service.
    assert generations({"colour": "blue"}, [{"VariantName": "v1"}]) == [{"VariantName": "v1"}]


def test_a_canary_onto_one_variant_shifts_its_traffic_only():
    from pipeline.endpoints.updates import shifted
    current = {"variants": [{"VariantName": "v1", "Weight": 80, "Instances": 2},
                            {"VariantName": "v2", "Weight": 20, "Instances": 1}]}
    after = [{**current["variants"][0], "Generation": 1}, current["variants"][1]]
    routes = shifted(current, after, "v1", 25)
    assert [(item["VariantName"], variants.route(item), item["Weight"], item["Hosts"])
            for item in routes] == [("v1", "v1", 60, ["variant-v1"]),
                                    ("v1", "v1_1", 20, ["variant-v1_1"]),
                                    ("v2", "v2", 20, ["variant-v2"])]
    conf = variants.upstream_conf(routes)
    assert '    60.00% v1;\n    20.00% v1_1;\n    * v2;\n' in conf
    assert "$variant_split_0 {\n    75.00% v1;\n    * v1_1;\n}" in conf
    assert [variants.route(item) for item in shifted(current, after, "v1", 100)] == ["v1", "v2"]


def test_an_alarm_on_one_variant_reads_that_variant_only():
    from pipeline.endpoints import guardrails
    line = 'sagemaker_invocation_5xx_errors_total{{endpoint="e",variant="{}"}} {}'
    before = "\n".join([line.format("v1", 0), line.format("v2", 0)])
    now = "\n".join([line.format("v1", 0), line.format("v2", 7)])
    alarm = guardrails.alarm({"AlarmName": "errors", "MetricName": "Invocation5XXErrors",
                              "Threshold": 0}, "alarm")
    assert guardrails.fired([alarm], before, now, "v1") is None
    assert guardrails.fired([alarm], before, now, "v2") == (alarm, 7.0)
    assert guardrails.fired([alarm], before, now) == (alarm, 7.0)


@pytest.mark.parametrize(("compose", "project"), [
    ("docker-compose -p penguinstest-v-12 -f docker-compose.yml", "penguinstest-v-12"),
    ("docker compose --project-name My.Endpoint_2 -f a.yml", "myendpoint_2"),
    ("docker-compose -f a.yml", "the_folder"),
])
def test_the_project_is_read_from_the_compose_command_as_compose_labels_it(compose, project):
    assert jobrun.compose_project(shlex.split(compose), default="The_Folder") == project
