"""The packages of the wheel, with the firmware's C sources and the board folders as package data: they live
beside hil/ in the checkout and ship as hil/firmware and hil/boards (hil/paths.py finds them either way); the
face models' checkpoints ship with models/. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["hil", "hil.*", "models", "models.*"]), "hil.firmware", "hil.boards"],
    package_dir={"hil.firmware": "firmware", "hil.boards": "boards"},
    package_data={
        "hil.firmware": ["**/*.c", "**/*.h", "**/*.ld"],
        "hil.boards": ["**/*.toml", "**/*.c", "**/*.ld", "**/*.md"],
        "models": ["checkpoints/*.pt", "checkpoints/*.json"],
    },
)
