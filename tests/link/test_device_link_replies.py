"""DeviceLink when one read carries a reply and the next, as on a serial port at a high baud rate or the RTT
port (which hands over a whole ring at once): RUN_STARTED and RESULT arrive together, and RESULT must not be
dropped with the rest of the read.

pyserial's `loop://` port stands in for the device: whatever is written to it is read back, and its
in_waiting counts the bytes queued, as a real serial port's does (a socket:// port reports at most 1)."""

from __future__ import annotations

import serial

from hil.link import messages as msg
from hil.link.device_link import DeviceLink
from hil.link.frame import encode_frame


def test_a_reply_and_the_next_in_one_read_are_both_delivered():
    port = serial.serial_for_url("loop://", timeout=0.05)
    link = DeviceLink(port, "loop", reply_timeout=1.0, attempts=1)
    result_payload = bytes(range(40))
    seq = 1  # the link's first request
    port.write(encode_frame(msg.RUN_STARTED, seq) + encode_frame(msg.RESULT, seq, result_payload))
    try:
        started, result = link.transact(msg.RUN, b"\0\0\0\0", [(msg.RUN_STARTED, 1.0), (msg.RESULT, 1.0)])
    finally:
        link.close()
    assert (started.type, result.type) == (msg.RUN_STARTED, msg.RESULT)
    assert result.payload == result_payload
    assert link.counters.resends == 0
