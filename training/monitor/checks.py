"""The data-quality monitor's checks: current statistics against the baseline's constraints.

Each check is SageMaker's (constraint_check_type), with its description's wording; every
threshold is read from constraints.json (monitoring_config, each feature's completeness and
domains), so a user who edits them changes the result. The drift distance of a numerical
feature is the largest absolute difference between the baseline's and the current cumulative
distributions (both from their KLL sketches, an item at level l weighing 2**l); of a string
feature, the largest absolute difference between category shares (LInfinity). With
comparison_method Robust (the baseline job's default) the distance is Deequ's linf_robust, which
SageMaker's analyzer is built on: max(0, distance - 1.8 * sqrt((n + m) / (n * m))) for n baseline
and m current values, the two-sample Kolmogorov-Smirnov allowance for small samples; Simple
compares the distance itself. With categorical_drift_method ChiSquared a string feature's
check is Deequ's chi-square goodness of fit of the current counts against the baseline's shares
(small categories merged as Deequ does), and it fails when the p-value is below
categorical_comparison_threshold.

A feature's `monitoringConfigOverrides` (SageMaker's constraints.json schema) holds any of
monitoring_config's keys; they replace the file's monitoring_config for that feature's checks
(distribution_constraints key by key), so `{"evaluate_constraints": "Disabled"}` leaves one
feature unchecked and `{"domain_content_threshold": 0.9}` loosens one feature's domains.
"""

import math
from pathlib import Path

from training.contract import jobio
from training.contract.jobio import JobError
from training.monitor.records import EXTRA_ATTR, EXTRA_MAX

# SageMaker's suggested monitoring_config, as its baseline jobs write it (baseline.py) and the
# checks read it when constraints.json leaves a key out.
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}
NUMERIC = ("Integral", "Fractional")
ROBUST_C_ALPHA = 1.8  # Deequ's defaultCAlpha
CATEGORICAL_METHODS = ("LInfinity", "ChiSquared")
# Deequ's rules for a valid chi-square test (expected counts): with two categories each at
# least 10 (Cochran); with more, at most a fifth of them below 5 (Yates, Moore & McCabe).
COCHRAN_MIN, YATES_MIN, YATES_SHARE = 10, 5, 0.2


def read_baseline(variable: str, path: Path, hint: str) -> dict:
    """A data-quality baseline's statistics.json or constraints.json, named by `variable`;
    JobError when it is missing, not JSON or has no features list."""
    value = jobio.read_json(variable, path, hint)
    if not isinstance(value, dict) or not isinstance(value.get("features"), list):
        raise JobError(f"{variable} {path}: no \"features\" list (expected SageMaker's "
                       f"{path.name})")
    return value


def pct(share: float) -> str:
    return f"{round(share * 100, 2)}%"


def violation(name: str, check: str, description: str) -> dict:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def type_shares(con, data, columns: list) -> dict:
    """{column: (present, numbers, whole numbers)} of the current values, in one DuckDB scan."""
    if not columns:
        return {}
    con.register("current_features", data)
    parts = []
    for column in columns:
        quoted = '"' + column.replace('"', '""') + '"'
        parts += [f"count({quoted})", f"count(TRY_CAST({quoted} AS DOUBLE))",
                  f"count_if(regexp_full_match({quoted}, '[+-]?[0-9]+'))"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM current_features").fetchall()[0]
    con.unregister("current_features")
    return {column: row[3 * i:3 * i + 3] for i, column in enumerate(columns)}


def matching(kind: str, present: int, numbers: int, whole: int) -> int:
    """How many present values are of the baseline's type (a whole number is Fractional too)."""
    return {"Integral": whole, "Fractional": numbers, "String": present - numbers}.get(kind,
                                                                                       present)


def cdf(numerical: dict):
    """(sorted values, cumulative shares) of a numerical statistics entry's distribution."""
    import numpy as np

    kll = numerical.get("distribution", {}).get("kll", {})
    levels = kll.get("sketch", {}).get("data")
    if levels:
        values = np.concatenate([np.asarray(level, dtype=float) for level in levels])
        weights = np.concatenate([np.full(len(level), 2.0 ** i) for i, level in
                                  enumerate(levels)])
    else:  # no sketch (an edited baseline): each bucket's count at its upper bound
        buckets = kll.get("buckets") or []
        values = np.array([b["upper_bound"] for b in buckets], dtype=float)
        weights = np.array([b["count"] for b in buckets], dtype=float)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    total = weights.sum()
    return values, (np.cumsum(weights) / total if total else weights)


def numeric_distance(baseline: dict, current: dict) -> float:
    import numpy as np

    (bv, bc), (cv, cc) = cdf(baseline), cdf(current)
    if not len(bv) or not len(cv):
        return 0.0
    points = np.union1d(bv, cv)

    def at(values, shares):
        index = np.searchsorted(values, points, side="right") - 1
        return np.where(index >= 0, shares[np.clip(index, 0, None)], 0.0)

    return float(np.max(np.abs(at(bv, bc) - at(cv, cc))))


def counts(stats: dict) -> dict:
    buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
    return {b["value"]: b["count"] for b in buckets}


def categorical_distance(baseline: dict, current: dict) -> float:
    def shares(stats):
        values = counts(stats)
        total = sum(values.values()) or 1
        return {value: count / total for value, count in values.items()}

    b, c = shares(baseline), shares(current)
    return max((abs(b.get(v, 0.0) - c.get(v, 0.0)) for v in {*b, *c}), default=0.0)


def chi_square_p_value(baseline: dict, current: dict) -> float:
    """p-value of the current counts against the baseline's shares; NaN if no test can run.

    Categories the baseline never saw are left out (categorical_values_check reports them).
    While too many expected counts are small, the smallest category merges into the next.
    """
    from scipy.stats import chisquare

    known, seen = counts(baseline), counts(current)
    observed = {value: seen.get(value, 0) for value in known}
    size, total = sum(observed.values()), sum(known.values())
    if not size or not total:
        return math.nan
    expected = {value: count / total * size for value, count in known.items()}
    while len(expected) >= 2:
        small, allowed = ((COCHRAN_MIN, 0) if len(expected) == 2
                          else (YATES_MIN, int(YATES_SHARE * len(expected))))
        if sum(count < small for count in expected.values()) <= allowed:
            break
        smallest = min(expected, key=expected.get)
        merged, merged_observed = expected.pop(smallest), observed.pop(smallest)
        into = min(expected, key=expected.get)
        expected[into] += merged
        observed[into] += merged_observed
    if len(expected) < 2:
        return math.nan
    return float(chisquare(list(observed.values()), list(expected.values())).pvalue)


def robust(distance: float, baseline: dict, current: dict) -> float:
    """Deequ's linf_robust of a distance between two statistics entries' distributions."""
    n, m = (stats.get("common", {}).get("num_present", 0) for stats in (baseline, current))
    if not n or not m:
        return distance
    return max(0.0, distance - ROBUST_C_ALPHA * math.sqrt((n + m) / (n * m)))


def drift(name: str, baseline: dict, current: dict, config: dict) -> dict | None:
    limits = config.get("distribution_constraints", MONITORING_CONFIG["distribution_constraints"])
    if limits.get("perform_comparison", "Enabled") != "Enabled":
        return None
    method = limits.get("comparison_method", "Robust")
    if method not in ("Simple", "Robust"):
        raise JobError(f"constraints.json monitoring_config.distribution_constraints."
                       f"comparison_method={method!r}: use Simple or Robust")
    kind = next((k for k in ("numerical_statistics", "string_statistics")
                 if k in baseline and k in current), None)
    if kind == "numerical_statistics":
        threshold = float(limits.get("comparison_threshold", 0.1))
        distance = numeric_distance(baseline[kind], current[kind])
    elif kind == "string_statistics":
        categorical = limits.get("categorical_drift_method", "LInfinity")
        if categorical not in CATEGORICAL_METHODS:
            raise JobError(f"constraints.json monitoring_config.distribution_constraints."
                           f"categorical_drift_method={categorical!r}: use "
                           f"{' or '.join(CATEGORICAL_METHODS)}")
        threshold = float(limits.get("categorical_comparison_threshold", 0.1))
        if categorical == "ChiSquared":
            p_value = chi_square_p_value(baseline[kind], current[kind])
            if p_value < threshold:  # NaN (no test possible) is no drift
                return violation(name, "baseline_drift_check",
                                 f"Baseline drift chi-square p-value: {p_value} is below "
                                 f"threshold: {threshold}")
            return None
        distance = categorical_distance(baseline[kind], current[kind])
    else:
        return None  # the types differ: data_type_check says so
    if method == "Robust":
        distance = robust(distance, baseline[kind], current[kind])
    if distance > threshold:
        return violation(name, "baseline_drift_check",
                         f"Baseline drift distance: {distance} exceeds threshold: {threshold}")
    return None


OVERRIDES = "monitoringConfigOverrides"


def feature_config(config: dict, rule: dict) -> dict:
    """monitoring_config with the feature's monitoringConfigOverrides applied; JobError naming
    the JSON path of an override that is not one of monitoring_config's keys."""
    overrides = rule.get(OVERRIDES) or {}
    where = f"constraints.json features[{rule.get('name')!r}].{OVERRIDES}"
    if not isinstance(overrides, dict):
        raise JobError(f"{where}: a JSON object of monitoring_config keys is expected")
    unknown = sorted(set(overrides) - set(MONITORING_CONFIG))
    if unknown:
        raise JobError(f"{where}.{unknown[0]}: not a monitoring_config key; use "
                       f"{', '.join(MONITORING_CONFIG)}")
    distribution = overrides.get("distribution_constraints", {})
    if not isinstance(distribution, dict):
        raise JobError(f"{where}.distribution_constraints: a JSON object is expected")
    merged = {**config, **overrides}
    merged["distribution_constraints"] = {**config.get("distribution_constraints", {}),
                                          **distribution}
    return merged


def check(con, baseline_statistics: dict, constraints: dict, current: dict, data) -> list:
    """constraint_violations.json's list for the current statistics and features frame."""
    config = {**MONITORING_CONFIG, **constraints.get("monitoring_config", {})}
    if config.get("evaluate_constraints", "Enabled") != "Enabled":
        return []
    expected = {f["name"]: f for f in constraints.get("features", [])}
    baseline_features = {f["name"]: f for f in baseline_statistics.get("features", [])}
    observed = {f["name"]: f for f in current["features"]}
    count = current["dataset"]["item_count"]
    configs = {name: feature_config(config, rule) for name, rule in expected.items()}
    enabled = {name for name in expected
               if configs[name].get("evaluate_constraints", "Enabled") == "Enabled"}
    found = []
    for name in (expected.keys() - observed.keys()) & enabled:
        found.append(violation(name, "missing_column_check",
                               "There are missing columns in current dataset. Number of columns "
                               f"in current dataset: {len(observed)}, Number of columns in "
                               f"baseline constraints: {len(expected)}"))
    extra = [name for name in observed if name not in expected]
    # Names beyond EXTRA_MAX were counted, not analysed (training/monitor/records.py).
    unlisted = max(0, data.attrs.get(EXTRA_ATTR, {}).get("count", 0) - len(extra))
    columns = len(observed) + unlisted
    extra_rule = ("There are extra columns in current dataset. Number of columns in current "
                  f"dataset: {columns}, Number of columns in baseline constraints: "
                  f"{len(expected)}")
    for name in extra:
        found.append(violation(name, "extra_column_check", extra_rule))
    if unlisted:
        found.append(violation(f"({unlisted} more)", "extra_column_check",
                               f"{extra_rule}. {unlisted} more extra column(s) were counted, not "
                               f"analysed (at most {EXTRA_MAX} are, the most frequent)."))
    shared = [name for name in expected if name in observed and name in enabled]
    shares = type_shares(con, data, shared)
    for name in shared:
        rule, present, own = expected[name], shares[name][0], configs[name]
        type_threshold = float(own.get("datatype_check_threshold", 1.0))
        domain_threshold = float(own.get("domain_content_threshold", 1.0))
        kind = rule.get("inferred_type")
        if present and kind in (*NUMERIC, "String"):
            share = matching(kind, *shares[name]) / present
            if share < type_threshold:
                found.append(violation(name, "data_type_check", (
                    f"Data type match requirement is not met. Expected data type: {kind}, "
                    f"Expected match: {pct(type_threshold)}. Observed: Only {pct(share)} of data "
                    f"is {kind}.")))
        completeness = present / count if count else 0.0
        if "completeness" in rule and completeness < float(rule["completeness"]):
            found.append(violation(name, "completeness_check", (
                f"Data completeness requirement is not met. Expected completeness: "
                f"{pct(float(rule['completeness']))}. Observed: Only {pct(completeness)} of data "
                "is complete.")))
        domains = rule.get("string_constraints", {}).get("domains")
        if domains is not None and present:
            known = int(data[name].isin(domains).sum())
            if known / present < domain_threshold:
                found.append(violation(name, "categorical_values_check", (
                    f"Categorical value match requirement is not met. Expected match: "
                    f"{pct(domain_threshold)}. Observed: {pct(known / present)} of the values "
                    "match the known values.")))
        if name in baseline_features:
            drifted = drift(name, baseline_features[name], observed[name], own)
            if drifted:
                found.append(drifted)
    order = {name: i for i, name in enumerate(dict.fromkeys([*expected, *observed]))}
    return sorted(found, key=lambda v: order.get(v["feature_name"], len(order)))
