"""Aegra: a self-hosted Agent Protocol server for LangGraph graphs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aegra")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
