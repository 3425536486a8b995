"""How the jobs fail on bad input, as tables asserted in-process and against the image.

tests/unit runs every row through the job's main() in-process; the contract tests run, through
the real image, the one row of each failure class marked `contract` (a container start each, and
the rest of a class proves nothing the first did not). The checks are the same in both layers:
the job fails, its message names the cause on one line, and it writes no output.
"""

from dataclasses import dataclass

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"
# The channels a training job gets unless a case says otherwise.
CHANNELS = ("train", "validation", "pipeline")
# A well-formed first line of Penguins' train channel: label, 4 numbers, 6 one-hot columns.
GOOD_TRAIN_LINE = "0,0,0,0,0,1,0,0,1,0,0\n"


@dataclass(frozen=True)
class ProcessingCase:
    """A raw penguins.csv the processing job must refuse, and a word its message holds."""
    id: str
    csv_text: str
    named: str
    contract: bool = False


@dataclass(frozen=True)
class TrainingCase:
    """Hyperparameters and channels a training job must refuse, and words its failure holds."""
    id: str
    hyperparameters: dict
    named: str
    channels: tuple = CHANNELS
    contract: bool = False


@dataclass(frozen=True)
class TrainCsvCase:
    """A line of the train channel the training job must refuse: the failure reads
    `channel train: <file> line <n> <says>`."""
    id: str
    line: str
    says: str
    contract: bool = False


PROCESSING_FAILURES = [
    ProcessingCase("missing-column", HEADER.replace("flipper_length_mm,", "")
                   + "Adelie,Dream,39,18,3700,male,2007\n", "flipper_length_mm", contract=True),
    ProcessingCase("missing-sex-column", HEADER.replace(",sex", "")
                   + "Adelie,Dream,39,18,181,3700,2007\n", "sex"),
    ProcessingCase("no-rows", HEADER, "no rows"),
    ProcessingCase("not-csv", "\x89PNG\r\n\x1a\n\x00\x00binary\x00", "penguins.csv"),
    ProcessingCase("no-labels", HEADER + "NA,Dream,39,18,181,3700,male,2007\n" * 20, "species"),
    ProcessingCase("too-few-of-a-class", HEADER + "".join(
        f"{species},Dream,39,18,181,3700,male,2007\n"
        for species in ["Adelie"] * 20 + ["Gentoo"] * 3), "Gentoo"),
    ProcessingCase("non-numeric", HEADER + "".join(
        f"Adelie,Dream,{40 + i % 5},18,181,heavy,male,2007\n" for i in range(30)),
        "body_mass_g"),
]

HYPERPARAMETER_FAILURES = [
    TrainingCase("bad-epochs", {"epochs": "many"},
                 "epochs='many' is not a whole number (for example 50)", contract=True),
    TrainingCase("zero-epochs", {"epochs": "0"}, "epochs"),
    TrainingCase("negative-learning-rate", {"learning_rate": "-1"}, "learning_rate"),
    TrainingCase("unknown-hyperparameter", {"dropout": "0.5"}, "dropout"),
]

CHANNEL_FAILURES = [
    TrainingCase("no-train-channel", {}, "train", ("validation", "pipeline"), contract=True),
    TrainingCase("no-pipeline-channel", {}, "pipeline", ("train", "validation")),
]

TRAIN_CSV_FAILURES = [
    TrainCsvCase("wrong-columns", "1,0.5,0.5\n", "has 3 columns; expected 11", contract=True),
    TrainCsvCase("non-numeric", "1,0.1,x,0,0,1,0,0,1,0,0\n", "column 3 is not a number: 'x'"),
    TrainCsvCase("nan", "1,0.1,nan,0,0,1,0,0,1,0,0\n", "column 3 is not a number: 'nan'"),
    TrainCsvCase("not-a-class-code", "7,0.1,0.2,0,0,1,0,0,1,0,0\n",
                 "has label '7'; labels must be class codes 0..2"),
    TrainCsvCase("fractional-label", "0.5,0.1,0.2,0,0,1,0,0,1,0,0\n", "has label '0.5'"),
]

# Each failure class, and its rows.
CLASSES = {"processing input": PROCESSING_FAILURES, "hyperparameter": HYPERPARAMETER_FAILURES,
           "channel": CHANNEL_FAILURES, "train channel CSV": TRAIN_CSV_FAILURES}


def contract(cases: list) -> list:
    """The rows the contract tests run through the image: one per class."""
    return [case for case in cases if case.contract]


def ids(case) -> str:
    return case.id
