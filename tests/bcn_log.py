"""What bcn's logger reported during a block, whatever the command line configured before it."""

import contextlib
import logging
import re


@contextlib.contextmanager
def bcn_log(level: int = logging.WARNING):
    """Yields the list of messages the `bcn` logger emits at `level` and above inside the block."""
    messages: list[str] = []
    handler = logging.Handler(level)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("bcn")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(previous or logging.WARNING, level))
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextlib.contextmanager
def logged_warnings(match: str | None = None):
    """Like pytest.warns for the bcn log: yields the warnings logged inside the block and asserts there was one
    (matching the regular expression `match`, if given)."""
    with bcn_log() as messages:
        yield messages
    if match is not None:
        assert any(re.search(match, message) for message in messages), (match, messages)
    else:
        assert messages, "no warning logged"
