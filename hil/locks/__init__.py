"""Host-local locks: one process at a time per board (or probe), shared by the farm allocator and board targets."""
