"""The ``dipcore`` command line (DESIGN.md section 5).

``main`` (the console script) parses the arguments (``main.py``) and runs a command:
``commands.py`` (validate, calibrate, settle, audit, drg-group, generate), ``demo.py``; ``options.py``
holds the argument types and shared option groups, ``progress.py`` the progress display.
"""
from dipcore.cli.main import main

__all__ = ["main"]
