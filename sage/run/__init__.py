"""The life of one run: its state (``run``), setup, finishing, the output folder, checkpoints,
what it writes for people to read (outputs, the model card) and where its numbers come from
(provenance). The engine's loop drives it; nothing here is imported by the spec but provenance."""
