"""Processing reads raw values by the rules serving applies: spaces and missing-value markers."""

import pandas as pd
import pytest

from training.contract import jobio
from training.workloads.penguins import data as penguins_data

from endpoint_cases import MISSING_MARKERS

pytestmark = pytest.mark.training
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n"


def read(tmp_path, text: str) -> pd.DataFrame:
    (tmp_path / "penguins.csv").write_text(text)
    return penguins_data.read_raw(tmp_path)


def test_spaces_around_fields_are_insignificant(tmp_path):
    spaced = (" species , island,bill_length_mm, bill_depth_mm ,flipper_length_mm,body_mass_g,"
              " sex\n"
              ' Adelie , "Dream", 39.1 ,18.7, 181,3750 , male \n'
              'Gentoo,"Biscoe ", 48.6,16.0,230,5800," female"\n')
    plain = (HEADER + "Adelie,Dream,39.1,18.7,181,3750,male\n"
             "Gentoo,Biscoe,48.6,16.0,230,5800,female\n")
    got = read(tmp_path, spaced)
    assert list(got["sex"]) == ["male", "female"]
    pd.testing.assert_frame_equal(got, read(tmp_path, plain))


def test_missing_markers_are_serving_s(tmp_path):
    assert sorted(jobio.MISSING) == sorted(MISSING_MARKERS)
    rows = "".join(f"Adelie,{text},39.1,{text},181,3750,{text}\n"
                   for marker in MISSING_MARKERS for text in (marker, f" {marker} "))
    got = read(tmp_path, HEADER + rows + "Adelie,Dream,39.1,18.7,181,3750,male\n")
    assert got[["island", "bill_depth_mm", "sex"]].iloc[:-1].isna().all().all()
    assert got[["island", "bill_depth_mm", "sex"]].iloc[-1].notna().all()
