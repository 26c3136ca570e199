"""Where the bundled files are, in a source checkout and in an installed copy."""

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"


def static_dir() -> Path:
    """``static/`` of the checkout (editable install), else ``<prefix>/share/councilcast/static``."""
    here = PACKAGE_DIR.parent / "static"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "councilcast" / "static"
