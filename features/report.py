"""What is wrong with a file of cases: :class:`Problem`, :class:`ValidationReport`.

Every check of the loader reports here — row, ``case_id``, field and what was
wrong — and ``triage validate`` prints or saves the report.  A report counts
every problem but keeps only as many as it shows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.files import write_atomically

#: How many problems a report shows; the count is always complete.
SHOWN_PROBLEMS = 50

#: The ``field`` of a problem with the file as a whole (unreadable, no header, empty).
WHOLE_FILE = "(file)"


class CaseDataError(ValueError):
    """Cases that break the contract; carries the full :class:`ValidationReport`."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.render())


def _visible(text: str) -> str:
    """``text`` with what a terminal would not show (or would obey) escaped: ``\\x07``, ``\\u202e``.

    A case_id refused for a control character is still how the user finds the row.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell (or a whole column when ``row`` is None)."""

    field: str
    message: str
    row: int | None = None
    case_id: str | None = None

    def render(self) -> str:
        """One line of a report: where (file, column or row and case) and what."""
        if self.field == WHOLE_FILE:
            return f"{'file' if self.row is None else f'row {self.row}'}: {self.message}"
        where = "column" if self.row is None else f"row {self.row}"
        case = f" (case_id {_visible(self.case_id)})" if self.case_id else ""
        return f"{where}{case}, field {self.field}: {self.message}"


@dataclass
class ValidationReport:
    """Everything wrong with a file (or a batch of records)."""

    source: str
    n_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    n_problems: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    dropped_personal_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return self.n_problems == 0

    def add(self, problems: Sequence[Problem], total: int | None = None) -> None:
        """Add problems; ``total`` counts them when only some of them are kept."""
        self.problems.extend(problems)
        self.n_problems += len(problems) if total is None else total

    def merge(self, other: ValidationReport) -> None:
        """Add the report of another chunk of the same file."""
        self.n_rows += other.n_rows
        self.problems.extend(other.problems)
        self.n_problems += other.n_problems
        for column in other.ignored_columns:
            if column not in self.ignored_columns:
                self.ignored_columns.append(column)
        for column in other.dropped_personal_columns:
            if column not in self.dropped_personal_columns:
                self.dropped_personal_columns.append(column)

    def shown(self) -> list[Problem]:
        """The first problems by row (column-level problems first)."""
        ordered = sorted(self.problems, key=lambda p: (-1 if p.row is None else p.row, p.field))
        return ordered[:SHOWN_PROBLEMS]

    def render(self) -> str:
        """The report as ``triage validate`` prints it."""
        lines = [f"{self.source}: {self.n_rows} rows"]
        if self.dropped_personal_columns:
            lines.append(
                "personal-data columns dropped on load: " + ", ".join(self.dropped_personal_columns)
            )
        if self.ignored_columns:
            lines.append("unknown columns ignored: " + ", ".join(self.ignored_columns))
        if self.ok:
            lines.append("OK: no problems")
            return "\n".join(lines)
        shown = self.shown()
        lines.append(f"{self.n_problems} problem(s); the first {len(shown)}:")
        lines.extend("  " + p.render() for p in shown)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready values (the shown problems, all the counts)."""
        return {
            "source": self.source,
            "ok": self.ok,
            "n_rows": self.n_rows,
            "n_problems": self.n_problems,
            "problems": [p.__dict__ for p in self.shown()],
            "ignored_columns": self.ignored_columns,
            "dropped_personal_columns": self.dropped_personal_columns,
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Save :meth:`to_dict` as JSON (readers see the old file or the whole new one)."""
        write_atomically(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=2))
