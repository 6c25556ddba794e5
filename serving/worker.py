"""The service as BentoML imports it: ``serving.worker:TriageService``.

`triage serve` and the Bento (``bentofile.yaml``) name this module, so every
BentoML process of the service — its command line, the arbiter and each
worker — imports the service through it:

* :func:`serving.lean_imports.prepare` runs before anything imports LightGBM
  (LightGBM without its scikit-learn estimators, ``scipy.stats`` and
  ``scipy.special`` deferred): 1.2 CPU-seconds of a worker's start;
* the cyclic garbage collector is off while the service's imports run, and
  what they built is frozen out of its sight afterwards: they allocate a few
  million objects that live as long as the process, which the collector
  otherwise walks again and again (about 0.5 CPU-seconds of a start).  The
  few thousand unreachable objects frozen with them are freed at the first
  model swap, which thaws and collects everything
  (:func:`serving.service._collect_retired`).

Importing :mod:`serving.service` itself (the tests, tools) leaves every library
and the collector as they are.
"""

import gc

from serving.lean_imports import prepare

# This module exists to run first: before anything imports LightGBM.
gc.disable()
try:
    prepare()
    from serving.service import TriageService

    gc.freeze()
finally:
    gc.enable()

__all__ = ["TriageService"]
