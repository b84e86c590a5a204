"""A user's callback: one file, one decorator. It keeps every call it receives in ``CALLS``."""

import sage.callbacks

CALLS: list[tuple[str, object]] = []


@sage.callbacks.register("recorder")
class Recorder(sage.callbacks.Callback):
    def on_fit_start(self, start):
        CALLS.append(("on_fit_start", start))

    def on_synthesis(self, synthetic):
        CALLS.append(("on_synthesis", synthetic))

    def on_epoch_end(self, row):
        CALLS.append(("on_epoch_end", row))

    def on_fit_end(self, metrics):
        CALLS.append(("on_fit_end", metrics))
