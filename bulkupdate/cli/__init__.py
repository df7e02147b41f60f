"""The command line: arguments → Settings → the library, owning the process, the demo."""

from .main import main

__all__ = ["main"]
