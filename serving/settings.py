"""Settings only the service reads, from ``TRIAGE_*`` environment variables.

They extend :class:`features.settings.TriageSettings` (paths, keys, the
decision-log URL) with the limits of the HTTP service.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServingSettings(BaseSettings):
    """Limits of the triage service."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", frozen=True)

    max_request_bytes: int = Field(
        default=32 << 20,
        ge=1024,
        description=(
            "Largest request body accepted (413 above). The default holds a "
            "10,000-case batch (about 10 MB of compact JSON) with room for indentation."
        ),
    )
    decision_log_sync: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        default="NORMAL",
        description=(
            "SQLite decision log: NORMAL survives any crash of the service process "
            "(kill -9); FULL also a power cut, at the cost of one disk flush per commit."
        ),
    )
