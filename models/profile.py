"""The reference profile a model version carries: what its training cases looked like.

Training writes it into each version's metadata (``training/profile.py``);
the service's drift monitoring counts live cases into the same bins
(``serving/drift.py``).  This module is the format both sides share:

* a numeric feature's entry holds the cut points of its bins (the deciles of
  the training values, ties merged) and the share of training cases in each
  bin, ``(−∞, c_0], (c_0, c_1], …, (c_k, ∞)``, plus the share missing;
* a coded feature's entry holds the share of each code of the model's
  vocabulary, plus the share missing;
* the score's entry (key :data:`SCORE_KEY`) holds the share of test cases in
  each probability band of width 0.1.

Shares are of *all* cases of the sample, so an entry's shares and its
``missing`` add up to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SCORE_CUTS",
    "SCORE_KEY",
    "Bins",
    "CodeProfile",
    "NumericProfile",
    "ProfileEntry",
    "ReferenceProfile",
]

#: The profile's key of the score entry.
SCORE_KEY = "__score__"
#: Cut points of the score bands (width 0.1).
SCORE_CUTS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))


@dataclass(frozen=True)
class Bins:
    """The bins of a numeric profile entry (the missing bin not included)."""

    edges: npt.NDArray[np.float64]

    @property
    def size(self) -> int:
        """Bins of known values: one more than the cut points."""
        return len(self.edges) + 1

    def index(self, known: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
        """Bin of each (non-missing) value: ``(e_{i-1}, e_i]`` is bin ``i``."""
        return np.searchsorted(self.edges, known, side="left")

    def counts(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Cases per bin, the missing ones in one more bin at the end."""
        array = np.asarray(values, dtype=np.float64)
        missing = np.isnan(array)
        counts = np.bincount(self.index(array[~missing]), minlength=self.size).astype(np.int64)
        return np.append(counts, np.int64(missing.sum()))


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericProfile(_Entry):
    """Shares of a numeric feature's training values (or of the test scores) per bin."""

    kind: Literal["numeric", "score"]
    closed: Literal["right"] = Field("right", description="Bins are (e_{i-1}, e_i].")
    edges: tuple[float, ...] = Field(description="Cut points, increasing.")
    shares: tuple[float, ...] = Field(description="Share of all cases in each bin.")
    missing: float = Field(description="Share of all cases with no value.")
    n: int = Field(description="Cases profiled.")

    @property
    def bins(self) -> Bins:
        """The entry's bins, for counting other cases into them."""
        return Bins(np.asarray(self.edges, dtype=np.float64))


class CodeProfile(_Entry):
    """Shares of a coded feature's training values, per code of the model's vocabulary."""

    kind: Literal["categorical"]
    values: tuple[float, ...] = Field(description="Vocabulary index of each code.")
    codes: tuple[str, ...] = Field(description="The codes, in the order of `values`.")
    shares: tuple[float, ...] = Field(description="Share of all cases with each code.")
    missing: float = Field(description="Share of all cases with no (or an unlearned) code.")
    n: int = Field(description="Cases profiled.")


ProfileEntry = Annotated[NumericProfile | CodeProfile, Field(discriminator="kind")]
#: Feature name (or :data:`SCORE_KEY`) → its entry.
ReferenceProfile = dict[str, ProfileEntry]
