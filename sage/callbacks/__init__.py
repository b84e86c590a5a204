"""Registry of callbacks; ``register(name)`` adds a class or factory, ``get(name)`` finds one.

A callback watches a run and never changes it: the spec lists them (``callbacks:``), and they are
left out of the spec's fingerprint, so that adding a logger leaves a run's identity, and the
bench's rows, as they were.
"""

from sage.registry import create_registry

registry = create_registry("callbacks")
register = registry.register
get = registry.get
get_all = registry.get_all

from sage.callbacks import history, log, progress, tensorboard  # noqa: E402,F401  (registers the built-ins)
from sage.callbacks.base import Callback, Callbacks, FitStart  # noqa: E402

__all__ = ["Callback", "Callbacks", "FitStart", "get", "get_all", "register", "registry"]
