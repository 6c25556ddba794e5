"""Out-of-time split by filing date, as in production: the model is judged on
cases filed after everything it learned from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import SplitConfig


@dataclass(frozen=True)
class TimeSplit:
    """Row positions of each part; whole filing days never straddle two parts."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_by_filing_date(filing_date: pd.Series, config: SplitConfig) -> TimeSplit:
    """Oldest cases train, the next ones validate, the newest test.

    Cut points are the filing dates at the configured quantiles, so every case
    of a given day lands in the same part and the parts never overlap in time.
    """
    dates = pd.to_datetime(filing_date).to_numpy()
    order = np.argsort(dates, kind="stable")
    n = len(dates)
    train_end = dates[order[int(n * (1 - config.validation_share - config.test_share))]]
    validation_end = dates[order[int(n * (1 - config.test_share))]]
    train = np.flatnonzero(dates < train_end)
    validation = np.flatnonzero((dates >= train_end) & (dates < validation_end))
    test = np.flatnonzero(dates >= validation_end)
    if min(len(train), len(validation), len(test)) == 0:
        raise ValueError(
            "filing_date does not spread over enough days for an out-of-time split "
            f"(train {len(train)}, validation {len(validation)}, test {len(test)} cases)"
        )
    return TimeSplit(train=train, validation=validation, test=test)
