"""Refuse a package name Python cannot import (runs only where the template is trusted)."""

import keyword
import re
import sys

PACKAGE = "{{ cookiecutter.package }}"

# The package defaults to the component name, which may start with a digit or be a keyword.
if not re.fullmatch(r"[a-z_][a-z0-9_]*", PACKAGE) or keyword.iskeyword(PACKAGE):
    print(f"error: {PACKAGE!r} is not a valid Python package name", file=sys.stderr)
    sys.exit(1)
