"""The host side of the firmware's framed binary protocol (firmware/app/protocol.h)."""
