"""Where the compiler's progress goes: its INFO lines (each stage of a compile and each choice a search takes, from
the hil.compiler loggers) reach a handler only while progress_to lasts. A searched face model takes minutes to
compile; `hil` prints them on stderr, the pytest plugin on the terminal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

COMPILER_LOGGER = "hil.compiler"


@contextlib.contextmanager
def progress_to(handler: logging.Handler) -> Iterator[None]:
    """The compiler's INFO lines go to handler until the block ends; the logger is left as it was."""
    logger = logging.getLogger(COMPILER_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def counted(n: int, noun: str) -> str:
    """n and the noun, plural unless n is 1 ('1 layer', '31 layers'): the counts in the compiler's lines."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
