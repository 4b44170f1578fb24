"""Where ``retail publish`` writes: the DSN (from option, environment or settings), shown redacted.

A DSN can carry a password (``postgresql://u:secret@host/db`` or ``password=secret``). Nothing
the publisher prints, logs or raises contains it: messages name the target by
:meth:`Target.display` (``postgresql://u@host:5432/db``) and every error text from the driver
passes through :meth:`Target.redact` first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from retail_lakehouse.config import Settings

DSN_ENV = "RETAIL_PUBLISH_DSN"
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_SCHEMA = re.compile(r"^(pg_|information_schema$)")
"""PostgreSQL's own: ``pg_`` names are refused by ``CREATE SCHEMA`` (and ``pg_catalog``,
``pg_temp`` exist), ``information_schema`` holds the SQL standard's catalog views."""


class PublishRefused(Exception):
    """The target cannot or must not be written (unreachable, wrong password, missing
    permission, tables of another shape, another lake's publish): nothing was changed on either
    side. The CLI maps it to exit code 2."""


class PublishFailed(Exception):
    """The publish started and failed; its transaction was rolled back (exit code 1)."""


_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """A PostgreSQL database and schema to publish into."""

    dsn: str
    schema: str

    def __post_init__(self) -> None:
        if not SCHEMA_NAME.match(self.schema) or RESERVED_SCHEMA.match(self.schema):
            raise PublishRefused(
                f"schema name {self.schema!r} is not allowed: use lower-case letters, digits "
                "and underscores, starting with a letter; not information_schema nor pg_..."
            )

    def parts(self) -> dict[str, str]:
        """The DSN's parameters (``host``, ``port``, ``user``, ``dbname``, ``password``...)."""
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            return {k: str(v) for k, v in conninfo_to_dict(self.dsn).items() if v is not None}
        except ProgrammingError as bad:
            raise PublishRefused(
                f"not a PostgreSQL connection string: {self.redact(bad)}"
            ) from None

    def display(self) -> str:
        """``postgresql://user@host:port/dbname``: the DSN without its password."""
        user, host, port, dbname = self._where()
        who = f"{user}@" if user else ""
        return f"postgresql://{who}{host}:{port}/{dbname}"

    def lineage_namespace(self) -> tuple[str, str]:
        """OpenLineage's naming of the server and database: (``postgres://host:port``, db)."""
        _, host, port, dbname = self._where()
        return f"postgres://{host}:{port}", dbname

    def _where(self) -> tuple[str, str, str, str]:
        parts = self.parts()
        user = parts.get("user") or os.environ.get("PGUSER", "")
        host = parts.get("host") or os.environ.get("PGHOST", "localhost")
        port = parts.get("port") or os.environ.get("PGPORT", "5432")
        dbname = parts.get("dbname") or os.environ.get("PGDATABASE", user)
        return user, host, port, dbname

    def identity(self) -> str:
        """How the lake's publish state names this target: database and schema, no secret."""
        return f"{self.display()} schema {self.schema}"

    def redact(self, text: object) -> str:
        """``text`` with every password (of this DSN, or any URL or key=value form) masked."""
        out = str(text)
        password = None
        try:
            from psycopg.conninfo import conninfo_to_dict

            password = conninfo_to_dict(self.dsn).get("password")
        except Exception:  # an unparsable DSN: the patterns below still mask it
            password = None
        if password:
            out = out.replace(str(password), "***")
        out = _URL_PASSWORD.sub(r"\1:***@", out)
        return _KV_PASSWORD.sub(r"\1***", out)


def configured(settings: Settings) -> bool:
    """Whether a target is set (``RETAIL_PUBLISH_DSN`` or ``[publish] dsn``): what makes
    Dagster's publish asset publish, rather than say there is nowhere to publish to."""
    return bool(os.environ.get(DSN_ENV)) or settings.publish.dsn is not None


def resolve_target(settings: Settings, dsn: str | None = None, schema: str | None = None) -> Target:
    """The target from (highest first) the option, ``RETAIL_PUBLISH_DSN``, ``[publish]``;
    refused first when the PostgreSQL driver is not installed (one message for the CLI, the
    watcher and Dagster; looked up, not imported)."""
    from importlib.util import find_spec

    if find_spec("psycopg") is None:
        raise PublishRefused(
            "publishing needs psycopg: install the [postgres] extra "
            "(pip install 'retail-lakehouse[postgres]')"
        )
    chosen = dsn or os.environ.get(DSN_ENV)
    if not chosen and settings.publish.dsn is not None:
        chosen = settings.publish.dsn.get_secret_value()
    if not chosen:
        raise PublishRefused(
            "no PostgreSQL target: pass --dsn, set RETAIL_PUBLISH_DSN, or set dsn in the "
            "[publish] table of retail.toml"
        )
    return Target(chosen, settings.publish.target_schema if schema is None else schema)
