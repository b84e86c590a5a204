"""Registry of students; ``register(name)`` adds a class or factory, ``get(name)`` finds one."""

from sage.registry import create_registry

registry = create_registry("students")
register = registry.register
get = registry.get
get_all = registry.get_all

from sage.students import fresh, truncated  # noqa: E402,F401  (registers the built-ins)
