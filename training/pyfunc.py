"""Where model versions registered before ``models/`` existed find their MLflow class.

MLflow stores a model-from-code file with each version; those of earlier
releases say ``from training.pyfunc import TriagePyfuncModel``.  This name
keeps them loadable with ``mlflow.pyfunc.load_model``; new versions name
:mod:`models.pyfunc` directly.
"""

from models.pyfunc import TriagePyfuncModel

__all__ = ["TriagePyfuncModel"]
