"""Registry of tasks; ``register(name)`` adds a class or factory, ``get(name)`` finds one."""

from sage.registry import create_registry

registry = create_registry("tasks")
register = registry.register
get = registry.get
get_all = registry.get_all

from sage.tasks import files, glue, hub  # noqa: E402,F401  (registers the built-in tasks)
from sage.tasks.task import DataError, Task  # noqa: E402,F401  (what a bad data file raises; the base of tasks)
