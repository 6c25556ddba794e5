"""What a trained triage model is: written by training, read by serving.

It imports ``features`` (and the ``app`` shell) only; ``training`` and
``serving`` both import it.

* :mod:`models.case_model` — one model (stream or assets) from its plain files:
  features → LightGBM → calibration, with reasons; :class:`~models.case_model.LoadedModel`;
* :mod:`models.triage` — both models deciding a batch of cases together;
* :mod:`models.calibration`, :mod:`models.routing`, :mod:`models.reasons` — applying
  the calibration, routing by the thresholds, phrasing the reasons;
* :mod:`models.metadata`, :mod:`models.profile` — what a version says about itself,
  typed, and the reference profile drift monitoring compares with;
* :mod:`models.registry` — the MLflow registry (register, resolve an alias, download);
  :mod:`models.pyfunc` — the MLflow face of a model; :mod:`models.pipeline` — the
  scikit-learn face.
"""
