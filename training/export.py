"""The fitted ColumnTransformer as plain arrays (features.json) for a serving image without sklearn.

Serving computes, per record: ((value or fill) - mean) / scale for each numeric column, then a
one-hot of (value or fill) over each categorical column's categories (all zeros if unknown).
This is exactly what the processing job's transformer does; a test holds the two together.
"""

DENSE_ACTIVATIONS = ("linear", "relu", "softmax")  # what serving/dense.py computes


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


def network_spec(network) -> dict | None:
    """network.json content for a Keras stack of Dense layers, or None for any other network.

    Serving answers single records from these weights in plain Python and checks at load
    that they agree with model.onnx; other networks are served by onnxruntime alone.
    """
    layers = []
    for layer in network.layers:
        config = layer.get_config()
        if type(layer).__name__ != "Dense" or config.get("activation") not in DENSE_ACTIVATIONS:
            return None
        weights = layer.get_weights()
        kernel = weights[0]
        bias = weights[1] if config.get("use_bias", True) else [0.0] * kernel.shape[1]
        layers.append({"kernel": [[float(w) for w in row] for row in kernel],
                       "bias": [float(b) for b in bias], "activation": config["activation"]})
    return {"layers": layers} if layers else None
