"""Model-from-code entry for MLflow: it loads this file to build the pyfunc model.

Logging the model class by file (not as a pickled object) keeps model
versions readable by later releases; the model's state is in plain files
(see :mod:`models.pyfunc`).  Run only by MLflow, never imported by the project.
"""

import mlflow.models

from models.pyfunc import TriagePyfuncModel

mlflow.models.set_model(TriagePyfuncModel())
