"""A service worker's imports: what it needs to score, and nothing it never runs.

A worker's start is almost all imports.  Measured at demo size (a worker
started as BentoML starts it, to models loaded and warm-up scored): 5.4
CPU-seconds, of which LightGBM's loading of scikit-learn took 1.8 and the
models' load and warm-up 0.3.  Two of those imports run code no request
ever needs:

* LightGBM imports scikit-learn's model selection, preprocessing and
  validation for its own estimators (``LGBMClassifier`` and the like), which
  a worker never uses: it scores through ``lightgbm.Booster``.  LightGBM is
  built to run without scikit-learn (``lightgbm.compat``), so
  :func:`import_lightgbm_without_sklearn` imports it as if scikit-learn were
  missing — for that one import; the feature builder still imports
  scikit-learn's base classes afterwards.
* scikit-learn's utilities import ``scipy.stats`` (0.8 CPU-seconds: hundreds
  of distributions built at import) and nothing the worker runs reads it.
  :func:`defer` makes such a module's body run on the first read of one of its
  attributes instead of at its import: the same module, later or never.

Only the worker's entry module (:mod:`serving.worker`) calls :func:`prepare`:
anywhere else — training, batch scoring, the tests — LightGBM keeps its
scikit-learn estimators (the Dask training uses them) and every module loads
as it always did.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Iterable, Sequence

__all__ = ["DEFERRED", "defer", "import_lightgbm_without_sklearn", "prepare"]

#: Modules whose bodies a worker runs only if something reads them.
DEFERRED = ("scipy.stats", "scipy.special")


def prepare() -> None:
    """Set a worker's imports up: LightGBM without its estimators, :data:`DEFERRED` deferred.

    Call it before anything imports LightGBM or scikit-learn (idempotent).
    """
    defer(DEFERRED)
    import_lightgbm_without_sklearn()


def import_lightgbm_without_sklearn() -> None:
    """Import LightGBM with its scikit-learn estimators switched off.

    Nothing happens when LightGBM is imported already, or scikit-learn is:
    LightGBM then has (or will find) it, as everywhere.  After the import
    scikit-learn imports as usual.
    """
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return
    # A None entry makes `import sklearn` raise ImportError, which lightgbm.compat
    # takes for "scikit-learn is not installed".
    sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        import lightgbm  # noqa: F401
    finally:
        if "sklearn" in sys.modules and sys.modules["sklearn"] is None:
            del sys.modules["sklearn"]


def defer(names: Iterable[str]) -> None:
    """Run the bodies of the modules ``names`` at the first read of an attribute, not at import.

    Only their next import is affected (a module imported already stays as
    it is); idempotent.
    """
    finder = next((f for f in sys.meta_path if isinstance(f, _DeferringFinder)), None)
    if finder is None:
        finder = _DeferringFinder()
        sys.meta_path.insert(0, finder)
    finder.names |= {name for name in names if name not in sys.modules}


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds a deferred module where the other finders do, and defers its loader."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        self.names.discard(fullname)  # once: a later import (after a reload) is ordinary
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _DeferringLoader(spec.loader)
        return spec


class _DeferringLoader(importlib.abc.Loader):
    """Creates the module as its own loader would; runs its body when it is first read."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__deferred__"] = _Pending(self.loader)
        module.__class__ = _DeferredModule


class _Pending:
    """A deferred module's loader, and a lock: two threads may read it first at once."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader
        self.lock = threading.RLock()
        self.running = False


class _DeferredModule(types.ModuleType):
    """A module whose body has not run yet: the first attribute read runs it.

    The standard library's ``importlib.util.LazyLoader`` does the same, but in
    Python 3.11 a second thread reading the module while the first runs its
    body sees it half-built (fixed in 3.12): here it waits on the lock.  A read
    of ``__spec__`` does not run the body: every later ``import`` of the module
    reads it (to see whether the module is still being imported).
    """

    def __getattribute__(self, attr: str) -> object:
        namespace = object.__getattribute__(self, "__dict__")
        pending = namespace.get("__deferred__")
        if pending is not None and attr != "__spec__":
            with pending.lock:
                # The body reads its own module while it runs (imports of its
                # submodules do): those reads see what is there so far, as usual.
                if not pending.running and "__deferred__" in namespace:
                    _run_body(self, namespace, pending)
        return object.__getattribute__(self, attr)

    def __delattr__(self, attr: str) -> None:
        self.__getattribute__("__name__")  # run the body first, as a read would
        delattr(self, attr)


def _run_body(module: types.ModuleType, namespace: dict[str, object], pending: _Pending) -> None:
    """Run a deferred module's body with its own loader; then it is an ordinary module."""
    pending.running = True
    try:
        spec = namespace["__spec__"]
        assert isinstance(spec, importlib.machinery.ModuleSpec)
        spec.loader = namespace["__loader__"] = pending.loader
        pending.loader.exec_module(module)
    finally:
        pending.running = False  # a body that raised runs again at the next read
    del namespace["__deferred__"]
    module.__class__ = types.ModuleType
