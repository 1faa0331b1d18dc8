"""Board farms: the farm file, per-board locks across processes, allocation, labgrid places."""
