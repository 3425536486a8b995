"""The fitted ColumnTransformer as plain arrays (features.json) for a serving image without sklearn.

Serving computes, per record: ((value or fill) - mean) / scale for each numeric column, then a
one-hot of (value or fill) over each categorical column's categories (all zeros if unknown).
This is exactly what the processing job's transformer does; a test holds the two together.
"""


def feature_spec(features) -> dict:
    """features.json content for a fitted ColumnTransformer of the processing job."""
    numeric_pipe = features.named_transformers_["numeric"]
    categorical_pipe = features.named_transformers_["categorical"]
    imputer, scaler = numeric_pipe.steps[0][1], numeric_pipe.steps[1][1]
    cat_imputer, encoder = categorical_pipe.steps[0][1], categorical_pipe.steps[1][1]
    numeric_columns = features.transformers_[0][2]
    categorical_columns = features.transformers_[1][2]
    return {
        "numeric": [
            {"name": name, "fill": float(fill), "mean": float(mean), "scale": float(scale)}
            for name, fill, mean, scale in zip(numeric_columns, imputer.statistics_,
                                               scaler.mean_, scaler.scale_, strict=True)
        ],
        "categorical": [
            {"name": name, "fill": str(fill), "categories": [str(c) for c in categories]}
            for name, fill, categories in zip(categorical_columns, cat_imputer.statistics_,
                                              encoder.categories_, strict=True)
        ],
    }


def width(features) -> int:
    """How many columns the transformer outputs."""
    return len(features.get_feature_names_out())
