"""Building firmware images with the cross compiler, and reading their footprint."""
