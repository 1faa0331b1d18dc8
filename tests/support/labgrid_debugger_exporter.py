"""labgrid's own exporter, with a stand-in for the one thing this machine lacks: a USB debugger for udev to find.

labgrid's exporter publishes a USBDebugger only while udev sees a matching USB device, and this machine has no
USB bus. Run as `python -m tests.support.labgrid_debugger_exporter ARGS` (labgrid-exporter's arguments), it
registers UsbDebuggerStandIn for the exporter YAML's USBDebugger entries, then runs labgrid's unmodified
exporter main. The stand-in publishes a NetworkUSBDebugger at the USB path the YAML gives under `match:
{ID_PATH: ...}` (bus 1, device 2, an ST-LINK/V2-1's vendor and product IDs), always available."""

from __future__ import annotations

from types import SimpleNamespace

import attr
from labgrid.remote import exporter
from labgrid.remote.exporter import ResourceExport

STLINK_V2_1 = (0x0483, 0x374B)


@attr.s(eq=False)
class UsbDebuggerStandIn(ResourceExport):
    """A USBDebugger export whose USB device is taken as present."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.data["cls"] = "NetworkUSBDebugger"
        self.local = SimpleNamespace(avail=True, poll=lambda: None)

    def _get_params(self) -> dict:
        return {
            "host": self.host,
            "busnum": 1,
            "devnum": 2,
            "path": self.local_params["match"]["ID_PATH"],
            "vendor_id": STLINK_V2_1[0],
            "model_id": STLINK_V2_1[1],
        }


if __name__ == "__main__":
    exporter.exports["USBDebugger"] = UsbDebuggerStandIn
    exporter.main()
