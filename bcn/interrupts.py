"""Ctrl-C and SIGTERM for bcn's commands: a KeyboardInterrupt at once, and a record that outlives it.

Python raises KeyboardInterrupt wherever the main thread happens to be. Inside library code
that runs Python under a C call which discards errors (attribute probes, dict lookups), the
exception can vanish and the run would go on as if nothing had been asked. Long loops (the
training epochs) therefore also check `requested()` at points where stopping is safe.
"""

import signal
import threading

_requested = threading.Event()


def install() -> None:
    """Route SIGINT and SIGTERM through `_interrupt`; a SIGINT the parent ignored (a background job) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    """Remember the request, then unwind like Ctrl-C: temp files are removed and outputs finalized on the way out."""
    _requested.set()
    raise KeyboardInterrupt


def requested() -> bool:
    """Whether Ctrl-C or SIGTERM came since `install`, even if the KeyboardInterrupt it raised was swallowed."""
    return _requested.is_set()
