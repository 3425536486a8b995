"""The one graph (training/model/graph.py): scikit-learn + Keras and onnxruntime agree."""

import shutil

import numpy as np
import pytest

from training.contract import jobio
from training.model import graph
from training.workloads.penguins import data as penguins_data
from training.workloads.penguins.data import bundled

pytestmark = pytest.mark.training

AGREEMENT = 1e-5
SEED = 42


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """read_raw() on palmerpenguins' CSV, split as the processing job splits it."""
    folder = tmp_path_factory.mktemp("input")
    shutil.copyfile(bundled(), folder / "penguins.csv")  # read_raw reads every CSV of a folder
    train, validation, test, _ = penguins_data.split(penguins_data.read_raw(folder), SEED)
    return train, validation, test


@pytest.fixture(scope="module")
def fitted(penguins):
    train = penguins[0]
    return penguins_data.transformers(train)


@pytest.fixture(scope="module")
def network(penguins, fitted):
    import keras

    from training.model import network

    features, target = fitted
    x = features.transform(penguins_data.marked(penguins[0])).astype(np.float32)
    keras.utils.set_random_seed(SEED)
    model = network.build(x.shape[1], len(target.classes_), learning_rate=0.05)
    model.fit(x, target.transform(penguins[0][penguins_data.LABEL]), epochs=10, batch_size=32,
              verbose=0)
    return model


@pytest.fixture(scope="module")
def session(fitted, network, tmp_path_factory):
    import onnx
    import onnxruntime

    features, target = fitted
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    model = graph.build(features, network, target.classes_, penguins_data.field_types())
    onnx.save(model, str(path))
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def sklearn_keras(fitted, network, frame) -> np.ndarray:
    """Probabilities the way training computes them: transformer, float32, Keras."""
    x = fitted[0].transform(penguins_data.marked(frame)).astype(np.float32)
    return network(x, training=False).numpy()


def preprocessing(fitted, frame) -> np.ndarray:
    """The features the converted transformer alone computes in onnxruntime."""
    import onnxruntime

    model = graph.preprocessing_onnx(fitted[0], penguins_data.field_types())
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, penguins_data.feeds(frame))[0]


def assert_same_answers(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == expected.shape
    difference = np.abs(got - expected).max()
    assert difference <= AGREEMENT, f"graph differs from scikit-learn + Keras by {difference:.2e}"
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def with_missing(test):
    """Test rows with numbers and categories missing in each way a record can leave them out."""
    frame = test.head(6).copy().reset_index(drop=True)
    frame[list(penguins_data.NUMERIC)] = frame[list(penguins_data.NUMERIC)].astype(object)
    frame[list(penguins_data.CATEGORICAL)] = frame[list(penguins_data.CATEGORICAL)].astype(object)
    frame.loc[0, "bill_length_mm"] = None
    frame.loc[1, list(penguins_data.NUMERIC)] = np.nan
    frame.loc[2, "island"] = None
    frame.loc[3, "sex"] = np.nan
    frame.loc[4, list(penguins_data.FEATURES)] = None
    frame.loc[5, ["sex", "body_mass_g"]] = [None, np.nan]
    frame[list(penguins_data.NUMERIC)] = frame[list(penguins_data.NUMERIC)].astype(float)
    return frame


def nan_transformer(train):
    """The transformer on read_raw()'s NaN for a missing value instead of the marked string."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()),
         list(penguins_data.NUMERIC)),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         list(penguins_data.CATEGORICAL)),
    ]).fit(train[list(penguins_data.FEATURES)])


def category_columns(features, field: str) -> dict:
    """{category: column index} of one field's one-hot columns in the transformer's output."""
    names = list(features.get_feature_names_out())
    prefix = f"categorical__{field}_"
    return {name[len(prefix):]: i for i, name in enumerate(names) if name.startswith(prefix)}


def test_processing_fits_the_graph_transformer_on_marked_rows(penguins):
    train = penguins[0]
    features, _ = penguins_data.transformers(train)
    assert train["sex"].isna().any()  # else the missing category below is not in the fit
    assert graph.MISSING_STRING in category_columns(features, "sex")
    np.testing.assert_array_equal(features.transform(penguins_data.marked(penguins[2])),
                                  penguins_data.transformer().fit(penguins_data.marked(train)).transform(
                                      penguins_data.marked(penguins[2])))


def test_transformer_gives_the_nan_transformer_s_features_for_complete_rows(penguins):
    train, _, test = penguins
    ours = penguins_data.transformer().fit(penguins_data.marked(train))
    theirs = nan_transformer(train)
    complete = test.dropna(subset=list(penguins_data.FEATURES))
    assert len(complete) > 0
    # The same columns, the missing category's in another place ("" sorts first, NaN last).
    mine, other = ours.get_feature_names_out(), list(theirs.get_feature_names_out())
    order = [other.index("categorical__sex_nan" if name == "categorical__sex_" else name)
             for name in mine]
    np.testing.assert_array_equal(ours.transform(penguins_data.marked(complete)),
                                  theirs.transform(complete[list(penguins_data.FEATURES)])
                                  [:, order])


def test_a_missing_category_is_a_category_of_its_own_and_a_missing_number_the_mean(penguins):
    train, _, test = penguins
    features = penguins_data.transformer().fit(penguins_data.marked(train))
    frame = with_missing(test)
    frame = frame.where(frame.notna(), np.nan)  # read_raw() leaves every missing value as NaN
    got = features.transform(penguins_data.marked(frame))
    sex = category_columns(features, "sex")
    missing_sex = frame["sex"].isna().to_numpy()
    assert missing_sex.any() and not missing_sex.all()
    assert (got[missing_sex, sex[graph.MISSING_STRING]] == 1).all()
    assert (got[~missing_sex, sex[graph.MISSING_STRING]] == 0).all()
    # No island is missing in the train split: a missing island is as unknown, all zeros.
    island = list(category_columns(features, "island").values())
    assert (got[frame["island"].isna().to_numpy()][:, island] == 0).all()
    # A missing number is the train split's mean: zero once standardised.
    column = list(features.get_feature_names_out()).index("numeric__bill_length_mm")
    assert np.isclose(got[frame["bill_length_mm"].isna().to_numpy(), column], 0).all()


def test_graph_gives_sklearn_and_keras_probabilities_for_the_whole_test_split(
        penguins, fitted, network, session):
    test = penguins[2]
    expected = sklearn_keras(fitted, network, test)
    got = session.run(None, penguins_data.feeds(test))[0]
    assert len(got) == len(test)
    assert_same_answers(expected, got)
    # Not a model that answers one class for everything: the comparison means something.
    assert len(set(expected.argmax(axis=1))) == len(fitted[1].classes_)


def test_converted_transformer_computes_the_sklearn_features(penguins, fitted):
    frame = penguins[2]
    expected = fitted[0].transform(penguins_data.marked(frame))
    np.testing.assert_allclose(preprocessing(fitted, frame), expected, atol=1e-5)


def test_records_with_missing_values_agree_between_sklearn_and_the_graph(
        penguins, fitted, network, session):
    frame = with_missing(penguins[2])
    np.testing.assert_allclose(preprocessing(fitted, frame),
                               fitted[0].transform(penguins_data.marked(frame)), atol=1e-5)
    assert_same_answers(sklearn_keras(fitted, network, frame),
                        session.run(None, penguins_data.feeds(frame))[0])


def test_an_unknown_category_is_an_all_zero_one_hot_in_both(penguins, fitted, network, session):
    frame = penguins[2].head(3).copy()
    frame["island"] = ["Atlantis", "biscoe", " Dream"]  # unknown, other case, spaced
    features = fitted[0]
    names = list(features.get_feature_names_out())
    island = [i for i, name in enumerate(names) if name.startswith("categorical__island_")]
    assert island
    expected = features.transform(penguins_data.marked(frame))
    assert (expected[:, island] == 0).all()
    got = preprocessing(fitted, frame)
    assert (got[:, island] == 0).all()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert_same_answers(sklearn_keras(fitted, network, frame),
                        session.run(None, penguins_data.feeds(frame))[0])


def test_signature_names_the_raw_fields_labels_and_missing_values_and_round_trips(
        fitted, network, session, tmp_path):
    import onnx

    features, target = fitted
    model = graph.build(features, network, target.classes_, penguins_data.field_types())
    written = graph.read_signature(model)
    assert [i["name"] for i in written["inputs"]] == list(penguins_data.FEATURES)
    assert {i["name"]: i["type"] for i in written["inputs"]} == (
        dict.fromkeys(penguins_data.NUMERIC, "float")
        | dict.fromkeys(penguins_data.CATEGORICAL, "string"))
    assert all(i["shape"] == [None, 1] for i in written["inputs"])
    assert written["labels"] == list(target.classes_)
    assert written["output"] == {"name": graph.OUTPUT, "shape": [None, len(target.classes_)]}
    assert written["missing"]["values"] == jobio.MISSING
    assert written["missing"]["string"] in jobio.MISSING
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    assert graph.read_signature(path) == written
    assert graph.read_signature(session) == written
    # The session's own view of inputs and outputs is what the signature says.
    assert [i.name for i in session.get_inputs()] == [i["name"] for i in written["inputs"]]
    assert [o.name for o in session.get_outputs()] == [graph.OUTPUT]
    changed = dict(written, labels=["a", "b", "c"])
    graph.write_signature(model, changed)
    assert graph.read_signature(model) == changed
    assert [p.key for p in model.metadata_props].count(graph.SIGNATURE_KEY) == 1


def test_a_model_without_a_signature_is_named_as_such(fitted):
    with pytest.raises(ValueError, match=graph.SIGNATURE_KEY):
        graph.read_signature(graph.preprocessing_onnx(fitted[0], penguins_data.field_types()))


def test_extra_signature_entries_are_merged_in(fitted, network):
    features, target = fitted
    image = {"input": "pixels", "height": 8, "width": 8, "max": 16.0}
    model = graph.build(features, network, target.classes_, penguins_data.field_types(),
                        extra={"image": image})
    written = graph.read_signature(model)
    assert written["image"] == image
    assert written["labels"] == list(target.classes_) and written["version"] == 1
