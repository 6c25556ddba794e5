"""A record contract as one value: its fields, the labels training needs, its rules.

Two records share the loader, the validator and the report: the new-case
record (:data:`CASE_RECORD`, :mod:`features.record`) and the terminated-case
record (``TERMINATED_RECORD`` in :mod:`features.terminated`).  Every reader
takes the contract it checks against; the new-case record is the default.
Personal-data columns (:data:`features.record.PII_FIELDS`) are the same for
every record and dropped on entry whichever it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from features.record import FIELDS, LABELS, PII_FIELDS, FieldSpec, Group
from features.rules import RULES, Rule


@dataclass(frozen=True)
class Contract:
    """What one kind of record is: its fields in order, its training labels, its rules."""

    #: What ``triage validate --kind`` calls it.
    kind: str
    fields: tuple[FieldSpec, ...]
    #: Outcome columns required of training data (``--labels``).
    labels: tuple[str, ...]
    rules: tuple[Rule, ...]
    field_by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {spec.name: spec for spec in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError(f"record {self.kind}: a field is defined twice")
        if set(by_name) & set(PII_FIELDS):
            raise ValueError(f"record {self.kind}: personal data cannot be a field")
        unknown = {name for rule in self.rules for name in rule.reads} - set(by_name)
        unknown |= set(self.labels) - set(by_name)
        if unknown:
            raise ValueError(f"record {self.kind}: rules or labels read unknown {sorted(unknown)}")
        object.__setattr__(self, "field_by_name", MappingProxyType(by_name))

    @property
    def record_fields(self) -> tuple[FieldSpec, ...]:
        """The fields a record carries before its outcome is known (no labels)."""
        return tuple(f for f in self.fields if f.group is not Group.OUTCOME)

    @property
    def outcome_fields(self) -> tuple[FieldSpec, ...]:
        """The outcome fields: for training and evaluation, never features."""
        return tuple(f for f in self.fields if f.group is Group.OUTCOME)


#: The new-case record (执行案件) of :mod:`features.record`.
CASE_RECORD = Contract(kind="case", fields=FIELDS, labels=LABELS, rules=RULES)
