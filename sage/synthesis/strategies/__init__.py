"""Registry of synthesis strategies; ``register(name)`` adds a class or factory, ``get(name)`` finds one.

A strategy makes new interface sequences near given parent examples (``base.Strategy``).
"""

from sage.registry import create_registry

registry = create_registry("strategies")
register = registry.register
get = registry.get
get_all = registry.get_all

from sage.synthesis.strategies import adversarial, boundary, mixup, paper, residual, retrieve, substitute  # noqa: E402,F401  (the built-ins)
