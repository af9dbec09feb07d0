"""What bcn's logger reported during a block, whatever the command line configured before it."""

import contextlib
import logging
import re


@contextlib.contextmanager
def logged_warnings(match: str | None = None):
    """Yields the list of WARNING-and-up messages the `bcn` logger emits inside the block; with `match`, asserts
    one of them matches that regular expression (like pytest.warns)."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("bcn")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    if match is not None:
        assert any(re.search(match, message) for message in messages), (match, messages)
    else:
        assert messages, "no warning logged"
