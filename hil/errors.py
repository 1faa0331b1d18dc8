"""The harness's exceptions: each names what went wrong, where, and what was expected."""


class HilError(Exception):
    """Base of every error the harness raises on purpose."""


class BoardNotFoundError(HilError):
    """A board name that has no folder under boards/."""


class BoardDescriptionError(HilError):
    """A board.toml that is missing a key or has a value of the wrong kind."""


class ToolchainError(HilError):
    """A compiler, linker or emulator that is missing or does not run."""


class FirmwareBuildError(HilError):
    """The firmware did not compile or link; the message carries the compiler's own words."""


class RegionOverflowError(FirmwareBuildError):
    """The image does not fit a memory region of the board."""


class LinkError(HilError):
    """The host link failed: no reply in time, corrupt frames past the retry limit, a closed port."""


class DeviceError(HilError):
    """The device answered with an error reply."""

    def __init__(self, code: int, code_name: str, request: str, text: str, port: str) -> None:
        self.code = code
        self.code_name = code_name
        self.request = request
        self.text = text
        super().__init__(f"device on {port} refused {request}: {code_name} ({code}): {text}")


class TargetError(HilError):
    """A target (emulator, board) that did not start, stopped early, or runs the wrong firmware."""


class CompileError(HilError):
    """A model the compiler cannot take: an unsupported module or operation, named with where it is."""


class ModelSpecError(HilError):
    """A --model that names nothing the harness can load, or a model description that contradicts itself."""
