"""The board-target tests' tiny echo images (16 bytes in, the same 16 out), UART and rtt builds."""

from tests.targets_pyocd.conftest import echo_image, rtt_echo  # noqa: F401
