#!/usr/bin/env python3
"""Checks statements tidemark's Redshift dialect emits, with a real SQL parser.

Reads a JSON list of {"name": ..., "sql": ...} (the file given as the only argument) and, for
each statement:
- it parses as Redshift SQL with sqlglot (`read="redshift"`), as exactly one statement and not
  as an opaque `Command` (sqlglot's fallback for syntax it does not model), except for `LOCK`,
  which sqlglot does not model and which is checked here by its own grammar
  (`LOCK name [, name ...]`);
- outside quoted identifiers and string literals, it contains none of the PostgreSQL-only
  constructs Redshift lacks;
- a `COPY` reads one `s3://` URL with `IAM_ROLE` credentials (sqlglot parses a COPY's options
  loosely, so their presence is checked here).

Prints one line per failure and exits 1 if there is any; prints the number checked otherwise.
"""

from __future__ import annotations

import json
import re
import sys

import sqlglot
from sqlglot import exp

# PostgreSQL constructs Redshift does not have (matched on the statement with its quoted
# identifiers and literals blanked out, upper-cased).
FORBIDDEN = {
    "ON CONFLICT": r"\bON\s+CONFLICT\b",
    "RETURNING": r"\bRETURNING\b",
    "COPY FROM STDIN": r"\bFROM\s+STDIN\b",
    "TRUNCATE (commits in Redshift)": r"\bTRUNCATE\b",
    "ON COMMIT": r"\bON\s+COMMIT\b",
    "jsonb": r"\bJSONB\b",
    "uuid type": r"\bUUID\b",
    "array type": r"\[\]",
    "unnest": r"\bUNNEST\b",
    "= ANY(array)": r"\bANY\s*\(",
    ":: cast": r"::",
    "FILTER (WHERE": r"\bFILTER\s*\(",
    "IS DISTINCT FROM": r"\bIS\s+(NOT\s+)?DISTINCT\s+FROM\b",
    "WITH ... DELETE": r"\bWITH\b[^;]*\bDELETE\b",
    "now()": r"\bNOW\s*\(",
}
QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
LOCK = re.compile(rf"^LOCK\s+{IDENT}(?:\.{IDENT})?(?:\s*,\s*{IDENT}(?:\.{IDENT})?)*$", re.I)


def problems(sql: str) -> list[str]:
    found = []
    bare = QUOTED.sub('""', sql).upper()
    for what, pattern in FORBIDDEN.items():
        if re.search(pattern, bare):
            found.append(f"contains {what}")
    if bare.startswith("LOCK "):
        if not LOCK.match(sql.strip()):
            found.append("is not LOCK name[, name ...]")
        return found
    try:
        parsed = sqlglot.parse(sql, read="redshift")
    except sqlglot.errors.ParseError as e:
        return found + [f"does not parse as Redshift: {e}"]
    if len(parsed) != 1 or parsed[0] is None:
        found.append(f"is {len(parsed)} statements, not one")
    elif isinstance(parsed[0], exp.Command):
        found.append("parses only as an opaque command")
    elif isinstance(parsed[0], exp.Copy):
        files = parsed[0].args.get("files") or []
        if len(files) != 1 or not (files[0].is_string and files[0].name.startswith("s3://")):
            found.append("is a COPY that does not read one s3:// URL")
        credentials = parsed[0].args.get("credentials")
        if credentials is None or credentials.args.get("iam_role") is None:
            found.append("is a COPY without IAM_ROLE")
    return found


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        statements = json.load(f)
    failures = 0
    for s in statements:
        for problem in problems(s["sql"]):
            failures += 1
            print(f"FAIL {s['name']}: {problem}\n    {s['sql']}")
    if failures:
        return 1
    print(f"{len(statements)} statements parse as Redshift SQL without PostgreSQL-only constructs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
