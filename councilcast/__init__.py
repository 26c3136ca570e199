"""councilcast: the application that assembles broadcast/, voting/ and planfactory/.

The domain packages know nothing of HTTP or of each other; this package owns the
web layer (routes, pages, auth), storage (SQLite, one writer), and the CLI.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
