"""Registry of losses; ``register(name)`` adds a class or factory, ``get(name)`` finds one."""

from sage.registry import create_registry

registry = create_registry("losses")
register = registry.register
get = registry.get
get_all = registry.get_all

from sage.losses import labels, mse, soft_ce  # noqa: E402,F401  (registers the built-ins)
