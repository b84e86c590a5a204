"""Registry of samplers; ``register(name)`` adds a class or factory, ``get(name)`` finds one."""

from sage.registry import create_registry

registry = create_registry("samplers")
register = registry.register
get = registry.get
get_all = registry.get_all

from sage.samplers import jitter, knn  # noqa: E402,F401  (registers the built-ins)
