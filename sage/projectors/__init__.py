"""Registry of projectors; ``register(name)`` adds a class or factory, ``get(name)`` finds one."""

from sage.registry import create_registry

registry = create_registry("projectors")
register = registry.register
get = registry.get
get_all = registry.get_all
from sage.projectors import identity, pca, tsne, umap  # noqa: E402,F401  (registers the built-ins)
