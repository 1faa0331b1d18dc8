"""The rtt build under QEMU: the framed link over RTT rings in guest RAM, moved by the host through
QEMU's gdbstub. The guest halts at the breakpoint on hil_rtt_wait whenever it needs the host (a frame
written, the down ring empty, the up ring full); the host moves the bytes and resumes it. Under
-icount the virtual clock stands still while the guest is halted, so halts change no timing."""

from __future__ import annotations

import time

from hil.errors import LinkError, TargetError
from hil.link.memory_access import MemoryAccess
from hil.link.messages import DeviceInfo
from hil.link.rtt import RttAddresses, RttPort, rtt_addresses
from hil.targets.gdb_remote import GdbMemoryAccess, GdbRemote
from hil.targets.qemu import PORT_ATTEMPTS, QemuProcess, QemuUartTarget, check_elf_for_board, free_tcp_port
from hil.targets.registry import TargetRequest, register_target

CONNECT_POLL_S = 0.05


class QemuRttTarget(QemuUartTarget):
    """A long-lived QEMU session, started halted (-S) with its gdbstub on a local TCP port."""

    def _connect_gdb(self, port: int) -> GdbRemote | None:
        """The gdbstub once QEMU listens; None when QEMU exits first (a port taken, say)."""
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while self.process.poll() is None:
            try:
                return GdbRemote("127.0.0.1", port, timeout=self.reply_timeout)
            except LinkError as e:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TargetError(
                        f"QEMU's gdbstub on port {port} did not answer in {self.startup_timeout} s"
                    ) from e
                time.sleep(CONNECT_POLL_S)
        return None

    def memory(self, remote: GdbRemote, addresses: RttAddresses) -> MemoryAccess:
        """What the rings are read and written through; hil.bench.link_noise wraps it to damage payload bytes."""
        return GdbMemoryAccess(remote, addresses.wait_function)

    def start(self) -> DeviceInfo:
        rtt = self.open_rtt()
        where = f"QEMU ({self.board.qemu_machine}) over RTT"
        self.info = self._open_link(rtt, self.port_url, where, self.reply_timeout, self.attempts)
        return self.info

    def open_rtt(self) -> RttPort:
        """QEMU started halted under its gdbstub and the rings located; no link on them yet (start adds it)."""
        check_elf_for_board(self.elf, self.board)
        try:
            addresses = rtt_addresses(self.elf)
        except LinkError as e:
            raise TargetError(str(e)) from e
        for _ in range(PORT_ATTEMPTS):
            port = free_tcp_port()
            self.port_url = f"gdb://127.0.0.1:{port}"
            gdb_args = ("-S", "-gdb", f"tcp:127.0.0.1:{port}", *self.extra_args)
            self.process = QemuProcess(self.board, self.elf, self.workdir, "null", self.qemu, gdb_args)
            self.process.start()
            remote = self._connect_gdb(port)
            if remote is not None:
                break
            tail = self.process.stop().stderr_tail
            if "Address already in use" not in tail:
                raise TargetError(f"QEMU ({self.board.qemu_machine}) exited before its gdbstub listened: {tail}")
        else:
            raise TargetError(f"QEMU found no free local TCP port for its gdbstub in {PORT_ATTEMPTS} attempts")
        where = f"QEMU ({self.board.qemu_machine}) over RTT"
        try:
            return RttPort(self.memory(remote, addresses), addresses.control_block)
        except LinkError as e:
            remote.close()
            self.stop()
            raise TargetError(f"{where}: {e}\n{self._context()}") from e


@register_target("qemu-rtt")
def _qemu_rtt(request: TargetRequest) -> QemuRttTarget:
    return QemuRttTarget(request.description, request.elf, request.workdir, run_timeout=request.run_timeout)
