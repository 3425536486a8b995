"""Penguins' data: the dataset's columns, its reading and splitting rules, the feature
transformer, and the raw-record helpers the graph and the jobs share.

Spaces around a field are insignificant and the MISSING markers are a missing value, as serving
reads a record; a missing category is graph.MISSING_STRING, one-hot encoded as a category of its
own.
"""

import io
from importlib import resources
from pathlib import Path

from training.contract.jobio import MISSING, JobError, atomic_write
from training.model.graph import MISSING_STRING

LABEL = "species"
NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
CATEGORICAL = ("island", "sex")
FEATURES = CATEGORICAL[:1] + NUMERIC + CATEGORICAL[1:]  # the dataset's own column order

def bundled() -> Path:
    return Path(str(resources.files("palmerpenguins") / "data" / "penguins.csv"))


def put_penguins(target: Path) -> str:
    existing = sorted(target.glob("*.csv"))
    if existing:
        return f"input already has {', '.join(p.name for p in existing)}; left as is"
    atomic_write(target / "penguins.csv", bundled().read_bytes())
    return f"copied the palmerpenguins dataset to {target / 'penguins.csv'}"


def bare(frame):
    """Names and values without the spaces around them, missing markers as NaN.

    Spaces around a field are insignificant, as serving reads a record (serving/features.py):
    `Dream, male ` is island Dream, sex male.
    """
    frame = frame.rename(columns=str.strip).apply(lambda column: column.str.strip())
    return frame.mask(frame.isin(MISSING))


def read_raw(input_dir: Path):
    """Every CSV in input_dir as one DataFrame, or JobError naming the file and column."""
    import pandas as pd

    files = sorted(p for p in input_dir.glob("*.csv") if p.is_file())
    if not files:
        raise JobError(f"{input_dir}: no CSV file in the processing input")
    frames = []
    for path in files:
        try:
            # skipinitialspace: a quote after a space still quotes, as in serving's CSV reader.
            frame = bare(pd.read_csv(path, dtype=str, na_filter=False, skipinitialspace=True))
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
            raise JobError(f"{path.name}: not a readable CSV file ({error})") from None
        missing = [c for c in (LABEL, *FEATURES) if c not in frame.columns]
        if missing:
            raise JobError(f"{path.name}: missing column {', '.join(missing)}")
        if frame.empty:
            raise JobError(f"{path.name}: no rows")
        for column in NUMERIC:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = numbers.isna() & frame[column].notna()
            if bad.any():
                row = int(bad.idxmax())
                raise JobError(f"{path.name}: column {column} has a non-numeric value "
                               f"{frame[column][row]!r} on data row {row + 1}")
            frame[column] = numbers
        frames.append(frame[[LABEL, *FEATURES]])
    return pd.concat(frames, ignore_index=True)


def split(data, seed: int):
    """Seeded stratified 70/15/15 split of the rows that have a label."""
    from sklearn.model_selection import train_test_split

    labelled = data[data[LABEL].notna()]
    if labelled.empty:
        raise JobError(f"column {LABEL}: no row has a label")
    counts = labelled[LABEL].value_counts()
    # Each split needs at least one row of each class: 7 rows make 70/15/15 possible.
    rare = counts[counts < 7]
    if not rare.empty:
        raise JobError(f"column {LABEL}: too few rows of {', '.join(map(str, rare.index))} "
                       "to split (at least 7 each)")
    train, rest = train_test_split(labelled, test_size=0.30, random_state=seed,
                                   stratify=labelled[LABEL])
    validation, test = train_test_split(rest, test_size=0.50, random_state=seed,
                                        stratify=rest[LABEL])
    return train, validation, test, len(data) - len(labelled)


def transformers(train):
    """The feature transformer (transformer(), on marked frames) and the label encoder,
    fitted on the train split only."""
    from sklearn.preprocessing import LabelEncoder

    features = transformer().fit(marked(train))
    target = LabelEncoder().fit(train[LABEL])
    return features, target


def matrix_csv(frame, features, target) -> str:
    """Headerless CSV, label code first: SageMaker's convention for CSV training data."""
    import numpy as np

    labels = target.transform(frame[LABEL]).reshape(-1, 1)
    values = np.hstack([labels, features.transform(marked(frame))])
    out = io.StringIO()
    np.savetxt(out, values, delimiter=",", fmt=["%d"] + ["%.10g"] * (values.shape[1] - 1))
    return out.getvalue()


def transformer():
    """The processing job's ColumnTransformer, unfitted, in a form skl2onnx converts.

    A missing category (MISSING_STRING once marked) is one-hot encoded as a category of its own
    when the train split has one, else as all zeros, as an unknown category is. No string
    imputer: skl2onnx converts one into eight more nodes a record (label encoders, casts,
    wheres, splits), a third of the endpoint's time to answer one record. Fit and transform it
    on marked() frames.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()),
         list(NUMERIC)),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         list(CATEGORICAL)),
    ])


def marked(frame):
    """The feature columns of a read_raw() frame with each missing category as MISSING_STRING."""
    frame = frame[list(FEATURES)].copy()
    for column in CATEGORICAL:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), MISSING_STRING)
    return frame


def feeds(frame) -> dict:
    """The graph's inputs for a read_raw() frame: {field: [N, 1] array}."""
    import numpy as np

    frame = marked(frame)
    inputs = {column: frame[[column]].to_numpy(dtype=object).astype(str)
              for column in CATEGORICAL}
    inputs |= {column: frame[[column]].to_numpy(dtype=np.float32) for column in NUMERIC}
    return inputs


def field_types() -> list:
    """skl2onnx input types of transformer(): one [None, 1] tensor per field, FEATURES order."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    return [(name, StringTensorType([None, 1]) if name in CATEGORICAL
             else FloatTensorType([None, 1])) for name in FEATURES]


