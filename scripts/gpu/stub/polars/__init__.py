"""Stand-in for polars, for ``scripts/gpu/train_detector.sh`` only (the real wheel is 54 MB).

Ultralytics reads its results.csv with polars inside a try block, so raising is enough.
"""


def read_csv(*args: object, **kwargs: object) -> None:
    raise RuntimeError("polars is not installed on this machine")


class DataFrame:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("polars is not installed on this machine")
