"""Imported at start-up by every Python process the tests start (conftest puts this
folder on PYTHONPATH): JupyterLab, Voila, their kernels, nbclient's kernels, the demo.

jsonschema imports rfc3987_syntax, when it is installed, to check the "iri" format, and
that import builds about 35 Earley parsers: 3.5 s of CPU on this machine in every
process that imports jsonschema (jupyter_server does, and plotly's FigureWidget does
through nbformat), about 30 processes a run (python-jsonschema/jsonschema#1428,
jupyter-server/jupyter_server#1559). No schema these processes validate uses an "iri"
format; jsonschema leaves the format unchecked without the module. The package itself
does not do this: a library must not change what other code imports.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
