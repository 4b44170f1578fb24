"""Ibis' package of SQL compilers, made to import each compiler when it is first asked for.

Imported by :mod:`retail_lakehouse.engines` before any Ibis backend loads: once the package
has been imported the ordinary way (which imports all twenty compilers), this does nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

_COMPILERS = "ibis.backends.sql.compilers"


def compilers_on_demand() -> None:
    """Make Ibis' package of SQL compilers import each compiler when it is first asked for.

    The package imports all twenty (Athena, BigQuery, Trino...) and their sqlglot dialects
    when Ibis' DuckDB backend imports it for its own: about 50 ms of every ``retail run``'s
    serial start-up, for compilers no command uses. Registered before the backend is loaded,
    the package is created without running its ``__init__``, and a module ``__getattr__``
    imports ``ibis.backends.sql.compilers.<name>`` for ``<Name>Compiler`` or ``<name>`` (the Spark
    engine's ``PySparkCompiler`` still loads). Nothing is done if the package is already imported or
    cannot be found: the ordinary import then applies."""
    if _COMPILERS in sys.modules:
        return
    spec = importlib.util.find_spec(_COMPILERS)
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)

    def compiler(name: str) -> object:
        module = name[: -len("Compiler")].lower() if name.endswith("Compiler") else name
        if (
            name.startswith("_")
            or "." in name
            or importlib.util.find_spec(f"{_COMPILERS}.{module}") is None
        ):
            raise AttributeError(f"module {_COMPILERS!r} has no attribute {name!r}")
        found = importlib.import_module(f"{_COMPILERS}.{module}")
        if module != name:
            found = getattr(found, name)
            setattr(package, name, found)
        return found

    package.__getattr__ = compiler  # type: ignore[method-assign]
    sys.modules[_COMPILERS] = package


compilers_on_demand()
