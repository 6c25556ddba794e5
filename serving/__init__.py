"""The triage service: the champions over HTTP (BentoML), with a decision log.

* :mod:`serving.service` — the BentoML service (endpoints, lifecycle);
* :mod:`serving.schemas` — request and response models, derived from the case record;
* :mod:`serving.decider` — decisions of the served models (champions and shadow challengers);
* :mod:`serving.decision_log` — every decision, committed before it is answered;
* :mod:`serving.models` — MLflow registry → BentoML model store → worker;
* :mod:`serving.keys`, :mod:`serving.middleware` — API keys, request checks, field-level errors;
* :mod:`serving.metrics`, :mod:`serving.patches` — Prometheus metrics, BentoML fixes;
* :mod:`serving.cli` — ``triage serve``, ``triage keys``, ``triage decisions``.
"""
