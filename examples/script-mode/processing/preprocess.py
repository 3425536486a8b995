"""Penguins preprocessing, as a SageMaker user writes it for the scikit-learn processing container
(SKLearnProcessor / FrameworkProcessor, or ScriptProcessor with command=["python3"]).

Reads every CSV in /opt/ml/processing/input, splits it 70/15/15 (stratified on species), fits the
feature transformers on the training rows only, and writes headerless CSVs whose first column is
the species code: train/, validation/, test/. The fitted transformers go to pipeline/.
"""

import argparse
import json
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

BASE = Path("/opt/ml/processing")
NUMERIC = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island"]


def read_input(folder: Path) -> pd.DataFrame:
    frames = [pd.read_csv(path) for path in sorted(folder.glob("*.csv"))]
    if not frames:
        raise SystemExit(f"no CSV file in {folder}")
    data = pd.concat(frames, ignore_index=True)
    # palmerpenguins says bill where the original Penguins data says culmen.
    data = data.rename(columns=lambda name: name.replace("bill_", "culmen_"))
    return data.dropna(subset=["species"]).drop(columns=["sex", "year"], errors="ignore")


def transformers():
    numeric = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"),
                                OneHotEncoder(handle_unknown="ignore"))
    features = ColumnTransformer([("numeric", numeric, NUMERIC),
                                  ("categorical", categorical, CATEGORICAL)])
    return features, OrdinalEncoder()


def save_split(name: str, x: np.ndarray, y: np.ndarray) -> None:
    folder = BASE / name
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(np.column_stack([y, x])).to_csv(folder / f"{name}.csv", header=False,
                                                 index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--test-size", type=float, default=0.3)
    args, _ = parser.parse_known_args()

    data = read_input(BASE / "input")
    train, rest = train_test_split(data, test_size=args.test_size, stratify=data.species,
                                   random_state=args.seed)
    validation, test = train_test_split(rest, test_size=0.5, stratify=rest.species,
                                        random_state=args.seed)
    features, target = transformers()
    y_train = target.fit_transform(train[["species"]]).ravel()
    x_train = features.fit_transform(train)
    save_split("train", x_train, y_train)
    for name, rows in (("validation", validation), ("test", test)):
        save_split(name, features.transform(rows), target.transform(rows[["species"]]).ravel())

    pipeline = BASE / "pipeline"
    pipeline.mkdir(parents=True, exist_ok=True)
    joblib.dump(features, pipeline / "features.joblib")
    joblib.dump(target, pipeline / "target.joblib")
    (pipeline / "classes.json").write_text(json.dumps(list(target.categories_[0])) + "\n")
    with tarfile.open(pipeline / "model.tar.gz", "w:gz") as archive:
        for name in ("features.joblib", "target.joblib"):
            archive.add(pipeline / name, arcname=name)
    print(f"rows: train={len(train)} validation={len(validation)} test={len(test)}")


if __name__ == "__main__":
    main()
