"""The triage service: the champions over HTTP (BentoML), with a decision log.

It imports ``features`` and ``models``, never ``training``: a worker carries
the model, not the training stack.

* :mod:`serving.service` — the BentoML service (endpoints, lifecycle);
* :mod:`serving.worker`, :mod:`serving.lean_imports` — the service as BentoML imports it:
  a worker's start without the imports no request needs;
* :mod:`serving.schemas` — request and response models, derived from the case record;
* :mod:`serving.decider` — decisions of the served models (champions and shadow challengers);
* :mod:`serving.decision_log` — every decision, committed before it is answered;
* :mod:`serving.model_import` — MLflow registry → BentoML model store (``triage serve``);
* :mod:`serving.served_models` — BentoML model store → a worker's models;
* :mod:`serving.follower`, :mod:`serving.model_check`, :mod:`serving.served_pointer`,
  :mod:`serving.live_models` — following the registry: moved aliases → checked models →
  the pointer file → each worker loads beside and swaps;
* :mod:`serving.keys`, :mod:`serving.middleware` — API keys, request checks, field-level errors;
* :mod:`serving.metrics`, :mod:`serving.patches` — Prometheus metrics, BentoML fixes;
* :mod:`serving.dashboard`, :mod:`serving.stats` — the dashboard and its numbers;
* :mod:`serving.drift`, :mod:`serving.drift_report`, :mod:`serving.drift_html` — drift of
  logged decisions against the reference profile each model version carries;
* :mod:`serving.cli` — ``triage serve``, ``triage keys``, ``triage decisions``, ``triage drift``.
"""
