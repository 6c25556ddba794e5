"""The service as BentoML imports it: ``serving.worker:TriageService``.

`triage serve` and the Bento (``bentofile.yaml``) name this module, so every
BentoML process of the service — its command line, the arbiter and each
worker — sets its imports up with :func:`serving.lean_imports.prepare` before
the service module imports LightGBM: a worker is ready about 1.4 CPU-seconds
sooner.  Importing :mod:`serving.service` itself (the tests, tools) leaves every
library as it is.
"""

from serving.lean_imports import prepare

# Before anything imports LightGBM: this module exists to be first.
prepare()

from serving.service import TriageService  # noqa: E402

__all__ = ["TriageService"]
