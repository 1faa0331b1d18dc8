"""hil: a hardware-in-the-loop test and benchmarking harness for ML models on microcontrollers."""

__version__ = "0.1.0"
