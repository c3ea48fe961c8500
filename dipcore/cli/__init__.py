"""The ``dipcore`` command line (DESIGN.md section 5).

``console`` (the console script) runs ``main``, which parses the arguments (``main.py``)
and runs a command: ``commands.py`` (validate, calibrate, settle, audit, drg-group,
generate), ``demo.py``; ``options.py`` holds the argument types and shared option groups,
``progress.py`` the progress display.
"""
from dipcore.cli.main import console, main

__all__ = ["console", "main"]
