"""Synthetic data: ranking the hard set, the strategies that make new points near it, the
synthesiser that labels them with the teacher, and what the diagnostics say about them."""
