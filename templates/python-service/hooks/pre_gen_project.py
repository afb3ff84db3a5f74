"""Refuse a package name Python cannot import (runs only where the template is trusted)."""

import re
import sys

PACKAGE = "{{ cookiecutter.package }}"

if not re.fullmatch(r"[a-z_][a-z0-9_]*", PACKAGE):
    print(f"error: {PACKAGE!r} is not a valid Python package name", file=sys.stderr)
    sys.exit(1)
