"""The sandbox's tables are MISP's own: built from MISP 2.5.1's db_schema.json (package data).

MySQL types are mapped onto portable SQLAlchemy types. Datetimes stay strings ("YYYY-MM-DD HH:MM:SS"),
as MISP renders them; tinyint(1) flags stay integers and each resource decides how MISP types them in JSON.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text

# Tables the sandbox serves; the rest of MISP's schema (events, attributes, …) is out of scope.
TABLES = (
    "organisations", "users", "roles", "auth_keys", "sharing_groups", "sharing_group_orgs",
    "sharing_group_servers", "tags", "taxonomies", "taxonomy_entries", "taxonomy_predicates",
    "templates", "template_elements", "template_element_texts", "template_element_attributes",
    "template_element_files", "template_tags", "allowedlist", "regexp", "org_blocklists",
    "event_blocklists", "servers", "feeds", "logs", "audit_logs", "jobs", "tasks", "admin_settings",
    "system_settings",
)

# Extra tables of the twin itself (not MISP's): settings values and web sessions.
EXTRA_COLUMNS: dict[str, list[dict[str, Any]]] = {}


@cache
def misp_schema() -> dict[str, list[dict[str, Any]]]:
    text = resources.files("reconciler.sandbox").joinpath("data/db_schema.json").read_text("utf-8")
    schema: dict[str, list[dict[str, Any]]] = json.loads(text)["schema"]
    return schema


def _column_type(column: dict[str, Any]) -> Any:
    data_type = column["data_type"]
    if data_type in ("int", "tinyint", "smallint", "mediumint"):
        return Integer()
    if data_type == "bigint":
        return BigInteger()
    if data_type in ("blob", "longblob", "mediumblob", "varbinary", "binary"):
        return LargeBinary() if data_type != "varbinary" else String(64)
    if data_type == "varchar":
        return String(int(column["character_maximum_length"] or 255))
    return Text()  # text, longtext, datetime, date, decimal: stored as MISP renders them


def default_of(column: dict[str, Any]) -> Any:
    """The value MySQL would fill in for a column the insert leaves out."""
    raw = column["column_default"]
    if raw is None or raw == "NULL":
        return None
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1]
    if column["data_type"] in ("int", "tinyint", "smallint", "mediumint", "bigint"):
        return int(raw)
    return raw


def build_metadata() -> MetaData:
    metadata = MetaData()
    schema = misp_schema()
    for name in TABLES:
        columns = []
        for column in schema[name]:
            is_id = column["column_name"] == "id"
            columns.append(Column(
                column["column_name"], Integer() if is_id else _column_type(column),
                primary_key=is_id, autoincrement=is_id, nullable=not is_id,
            ))
        Table(name, metadata, *columns, sqlite_autoincrement=True)
    Table("sandbox_settings", metadata,
          Column("name", String(255), primary_key=True), Column("value", Text()))
    Table("sandbox_sessions", metadata,
          Column("id", String(64), primary_key=True), Column("user_id", Integer()),
          Column("tokens", Text()))
    return metadata


METADATA = build_metadata()


def defaults(table: str) -> dict[str, Any]:
    """Column defaults of one MISP table, as MySQL applies them."""
    if table not in misp_schema():
        return {}
    return {c["column_name"]: default_of(c) for c in misp_schema()[table] if c["column_name"] != "id"}
