"""The board-target tests' tiny echo image (16 bytes in, the same 16 out)."""

from tests.targets_pyocd.conftest import echo_image  # noqa: F401
