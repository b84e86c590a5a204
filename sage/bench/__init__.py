"""``sage bench``: the config (``config``), the resumable runner (``runner``) and its tables (``report``)."""
