"""Host builds of the firmware's C (kernels now, generated model C later) and ctypes bindings to call them."""

from hil.host_build.compiler import HostBuildError, HostLibrary, build_shared_library, kernel_sources
from hil.host_build.kernels import HostKernelError, HostKernels

__all__ = ["HostBuildError", "HostKernelError", "HostKernels", "HostLibrary", "build_shared_library", "kernel_sources"]
