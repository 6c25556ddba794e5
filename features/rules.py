"""The case record's rules across fields, written once for the loader and the API.

:data:`RULES` is the one table of them.  Each rule has a stable error type
(``code``: the ``type`` of an API error), the fields it reports (each one that
breaks it is a problem of its own), the message users read and the fields it
reads.  Each kind of rule applies two ways, side by side in its class:

* :meth:`Rule.rows_breaking`, vectorised over the canonical frame of
  :mod:`features.load` (numbers and booleans as float64 with NaN for missing,
  identity and codes as ``str`` with NaN): the loader's check of a file;
* :meth:`Rule.fields_breaking`, on one case as the API's request model holds
  it after validation (plain Python values, ``None`` for missing, every record
  field a key).  It runs on every ``POST /triage``, so it is plain Python on
  the values dict: no numpy, no pandas.

A rule with a missing operand does not fire: an unknown value contradicts
nothing (its own field says whether it may be missing).

:func:`problems_in_case` applies the whole table to one case.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from features.record import FIELD_BY_NAME, FIELDS, INQUIRY_FIELDS, FieldSpec

if TYPE_CHECKING:
    import pandas as pd

#: Rows of a frame that break a rule.
RowMask: TypeAlias = npt.NDArray[np.bool_]
#: One validated case, field name -> value.  Any: the type of each value is
#: its field's kind in the contract, which a static type of the dict cannot say.
CaseValues: TypeAlias = Mapping[str, Any]


class Rule(ABC):
    """One rule across the fields of a case: what it reports, what it says, what it reads."""

    __slots__ = ("code", "fields", "message", "reads")

    code: str
    fields: tuple[str, ...]
    message: str
    reads: tuple[str, ...]

    def __init__(
        self,
        *,
        code: str,
        message: str,
        fields: tuple[str, ...],
        reads: tuple[str, ...],
        record: Mapping[str, FieldSpec] = FIELD_BY_NAME,
    ) -> None:
        unknown = [name for name in reads if name not in record]
        if unknown or not set(fields) <= set(reads):
            raise ValueError(f"rule {code}: reads {reads}, reports {fields}; unknown: {unknown}")
        self.code = code
        self.message = message
        self.fields = fields
        self.reads = reads

    @abstractmethod
    def rows_breaking(self, frame: pd.DataFrame) -> dict[str, RowMask]:
        """For each reported field, the rows of a canonical frame that break the rule.

        Fields whose operands are not columns of ``frame`` are left out.
        """

    @abstractmethod
    def fields_breaking(self, case: CaseValues) -> tuple[str, ...]:
        """The reported fields that break the rule in one case (``()`` when none do)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, fields={self.fields!r})"


class _Compared(Rule):
    """``field`` compared with ``bound``, another field of the same case; ``breaks`` says which way fails."""

    __slots__ = ("bound", "field")

    @staticmethod
    @abstractmethod
    def breaks(value: Any, bound: Any) -> Any:
        """The comparison that breaks the rule, on values or columns (unknowns compare false)."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        field: str,
        bound: str,
        record: Mapping[str, FieldSpec] = FIELD_BY_NAME,
    ) -> None:
        super().__init__(
            code=code, message=message, fields=(field,), reads=(field, bound), record=record
        )
        self.field = field
        self.bound = bound

    def rows_breaking(self, frame: pd.DataFrame) -> dict[str, RowMask]:
        """The rows where the comparison breaks (NaN and NaT compare false)."""
        if self.field not in frame or self.bound not in frame:
            return {}
        broken = self.breaks(frame[self.field], frame[self.bound])
        return {self.field: np.asarray(broken, dtype=np.bool_)}

    def fields_breaking(self, case: CaseValues) -> tuple[str, ...]:
        """``(field,)`` when both are known and the comparison breaks."""
        value, bound = case[self.field], case[self.bound]
        if value is not None and bound is not None and self.breaks(value, bound):
            return self.fields
        return ()


class AtMost(_Compared):
    """``field`` is at most ``bound``, another field of the same case."""

    __slots__ = ()

    @staticmethod
    def breaks(value: Any, bound: Any) -> Any:
        return value > bound


class PrefixIs(Rule):
    """The first ``length`` characters of ``field`` are the value of ``prefix_field``."""

    __slots__ = ("field", "length", "prefix_field")

    def __init__(
        self,
        *,
        code: str,
        message: str,
        field: str,
        prefix_field: str,
        length: int,
        record: Mapping[str, FieldSpec] = FIELD_BY_NAME,
    ) -> None:
        super().__init__(
            code=code, message=message, fields=(field,), reads=(field, prefix_field), record=record
        )
        self.field = field
        self.prefix_field = prefix_field
        self.length = length

    def rows_breaking(self, frame: pd.DataFrame) -> dict[str, RowMask]:
        """The rows where both are known and the prefix differs."""
        if self.field not in frame or self.prefix_field not in frame:
            return {}
        prefix = frame[self.field].str.slice(0, self.length)
        expected = frame[self.prefix_field]
        differs = expected.notna() & prefix.notna() & (prefix != expected)
        return {self.field: np.asarray(differs, dtype=np.bool_)}

    def fields_breaking(self, case: CaseValues) -> tuple[str, ...]:
        """``(field,)`` when both are known and the prefix differs."""
        value, expected = case[self.field], case[self.prefix_field]
        if value is not None and expected is not None and value[: self.length] != expected:
            return self.fields
        return ()


class After(_Compared):
    """``field`` is strictly later than ``bound``, another field (a date) of the same case."""

    __slots__ = ()

    @staticmethod
    def breaks(value: Any, bound: Any) -> Any:
        return value <= bound


class EmptyUnless(Rule):
    """Each of ``fields`` is empty when ``flag`` is false (or, for a count, zero)."""

    __slots__ = ("flag",)

    def __init__(
        self,
        *,
        code: str,
        message: str,
        fields: tuple[str, ...],
        flag: str,
        record: Mapping[str, FieldSpec] = FIELD_BY_NAME,
    ) -> None:
        super().__init__(
            code=code, message=message, fields=fields, reads=(flag, *fields), record=record
        )
        self.flag = flag

    def rows_breaking(self, frame: pd.DataFrame) -> dict[str, RowMask]:
        """For each field, the rows where ``flag`` is false (not missing) and the field is filled."""
        if self.flag not in frame:
            return {}
        # Booleans are 1.0/0.0 in the canonical frame; NaN (unknown) is not false.
        off = np.asarray(frame[self.flag] == 0, dtype=np.bool_)
        return {
            name: off & np.asarray(frame[name].notna(), dtype=np.bool_)
            for name in self.fields
            if name in frame
        }

    def fields_breaking(self, case: CaseValues) -> tuple[str, ...]:
        """The filled fields when ``flag`` is ``False`` or 0 (``None``, unknown, is neither)."""
        flag = case[self.flag]
        if flag is None or flag != 0:  # False == 0
            return ()
        return tuple(name for name in self.fields if case[name] is not None)


#: The rules across fields of the case record, in the order their problems are
#: reported.  The codes, fields and messages are what users see (API 422 bodies,
#: ``triage validate`` reports): changing one is changing the contract.
RULES: tuple[Rule, ...] = (
    # Cases ended 终本 are among the prior cases: the contract's ``at_most_field``.
    *(
        AtMost(
            code="at_most",
            message=f"is greater than {spec.at_most_field}",
            field=spec.name,
            bound=spec.at_most_field,
        )
        for spec in FIELDS
        if spec.at_most_field is not None
    ),
    # A court code (GB/T 2260) begins with the two-digit code of its province.
    PrefixIs(
        code="court_province",
        message="first two characters differ from the province code",
        field="court_id",
        prefix_field="province",
        length=2,
    ),
    # The first network inquiry's answers are unknown until it has answered.
    EmptyUnless(
        code="inquiry_not_done",
        message="must be empty when inquiry_done is false",
        fields=tuple(spec.name for spec in INQUIRY_FIELDS),
        flag="inquiry_done",
    ),
)


def problems_in_case(case: CaseValues) -> list[tuple[Rule, str]]:
    """Every rule one case breaks, with the field it reports, in the order of :data:`RULES`."""
    return [(rule, name) for rule in RULES for name in rule.fields_breaking(case)]
