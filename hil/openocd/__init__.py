"""OpenOCD, shared by the local board target (hil.targets) and labgrid flashing (hil.farm): its command lines
and its Tcl port."""
