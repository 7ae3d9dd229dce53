"""Dialect check of a compiled dbt project: does each compiled model read as its engine's SQL?

`dbt compile --target databricks|synapse|spark` (offline: see docs in tests/portability/) writes
`manifest.json` with each node's compiled SQL. This module parses that SQL with sqlglot in the
engine's dialect and adds the rules sqlglot's parser is too lenient for: it accepts `LIMIT`,
`::` casts, `QUALIFY` and any unknown function name in every dialect, so constructs and
functions that a given engine rejects are listed here per dialect (each one checked against the
engine where one is at hand: DuckDB 2.0 and Spark 3.5 locally; T-SQL and Databricks SQL from
their references).

    python -m ingestion.portability --target-dir target/databricks --dialect databricks

prints one line per finding (file, line, what is wrong, what to do) and a summary, and exits 1
on any finding or when nothing compiled was found. `check_target()` is the typed entry point;
`write_spark_conf()` writes the `SPARK_CONF_DIR` for the local `spark` target.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, get_args

import sqlglot
from sqlglot.dialects.dialect import Dialect as SqlglotDialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

Dialect = Literal["databricks", "spark", "tsql", "duckdb"]
DIALECTS: Final[tuple[Dialect, ...]] = get_args(Dialect)

# dbt target type (or a dialect name) -> dialect of its compiled SQL.
TARGET_DIALECT: Final[dict[str, Dialect]] = {
    "tsql": "tsql",
    "databricks": "databricks",
    "spark": "spark",
    "synapse": "tsql",
    "sqlserver": "tsql",
    "fabric": "tsql",
    "duckdb": "duckdb",
}

# Node kinds whose compiled SQL is checked (seeds have none; unit tests are dbt's own fixtures).
CHECKED_RESOURCE_TYPES: Final[frozenset[str]] = frozenset({"model", "snapshot", "test", "analysis"})

Kind = Literal["parse", "construct", "function", "type"]

# --- what each engine rejects although sqlglot parses it -----------------------------------------

# Functions that exist in DuckDB only (absent from Spark 3.5's `SHOW FUNCTIONS`, from T-SQL and,
# as far as its reference goes, from Databricks SQL).
_DUCKDB_ONLY: Final[dict[str, str]] = {
    "strftime": "date_format() on Spark/Databricks, format()/convert() on T-SQL",
    "strptime": "to_date()/to_timestamp() on Spark/Databricks, convert() on T-SQL",
    "list_aggregate": "aggregate() on Spark/Databricks",
    "list_transform": "transform() on Spark/Databricks",
    "list_filter": "filter() on Spark/Databricks",
    "list_value": "array() on Spark/Databricks",
    "list_concat": "concat() on Spark/Databricks",
    "list_contains": "array_contains() on Spark/Databricks",
    "struct_pack": "named_struct() on Spark/Databricks",
    "epoch_ms": "timestamp_millis()/unix_millis() on Spark/Databricks",
    "epoch": "unix_timestamp() on Spark/Databricks, datediff(second, ...) on T-SQL",
    "regexp_matches": "rlike/regexp_like() on Spark/Databricks",
    "regexp_full_match": "rlike with ^...$ on Spark/Databricks",
    "string_split": "split() on Spark/Databricks",
    "str_split": "split() on Spark/Databricks",
    "array_length": "size()/array_size() on Spark/Databricks",
    "strpos": "instr()/position() on Spark/Databricks, charindex() on T-SQL",
    "today": "current_date()",
}

# Functions of T-SQL only (absent from Spark 3.5 and DuckDB).
_TSQL_ONLY: Final[dict[str, str]] = {
    "getdate": "current_timestamp()",
    "iif": "case when ... end (or if() on Spark/Databricks)",
    "convert": "cast(... as ...) or a dispatched macro",
    "datetrunc": "date_trunc() / dbt.date_trunc",
    "charindex": "instr()/position()",
}

# Functions of Spark/Databricks only (absent from DuckDB 2.0 and T-SQL).
_SPARK_ONLY: Final[dict[str, str]] = {
    "date_format": "strftime() on DuckDB, format()/convert() on T-SQL (dispatch it)",
    "collect_list": "list()/array_agg() on DuckDB, string_agg() on T-SQL",
    "collect_set": "list(distinct ...) on DuckDB",
    "named_struct": "struct_pack() / {...} on DuckDB",
    "explode": "unnest() on DuckDB",
    "size": "len()/array_length() on DuckDB",
    "rlike": "regexp_matches() on DuckDB",
    "nvl": "coalesce()",
    "unix_timestamp": "epoch() on DuckDB",
    "from_unixtime": "to_timestamp() on DuckDB",
    "add_months": "dbt.dateadd",
    "months_between": "dbt.datediff",
    "to_date": "cast(... as date) or strptime() on DuckDB",
}

# Functions that ANSI engines have and T-SQL (Synapse dedicated SQL pool) does not.
_NOT_TSQL: Final[dict[str, str]] = {
    "date_trunc": "dbt.date_trunc (datetrunc() is not in Synapse dedicated pools)",
    "date_add": "dateadd() / dbt.dateadd",
    "date_sub": "dateadd() / dbt.dateadd",
    "date_part": "datepart()",
    "to_char": "format()/convert()",
    "to_timestamp": "convert(datetime2, ...)",
    "ifnull": "coalesce()/isnull()",
    "md5": "dbt.hash (hashbytes('md5', ...))",
    "sha2": "hashbytes('sha2_256', ...)",
    "length": "len() / dbt.length",
    "substr": "substring()",
    "split_part": "string_split() / a dispatched macro",
    "string_split": "left()/charindex() in a dispatched macro (string_split's enable_ordinal is "
    "not in Synapse dedicated pools)",
    "array_agg": "string_agg()",
    "bool_and": "min(case ... then 1 else 0 end)",
    "bool_or": "max(case ... then 1 else 0 end)",
    "any_value": "min()/max()",
    "ceil": "ceiling()",
    "pow": "power()",
    "ln": "log()",
    "random": "rand()/newid()",
    "now": "current_timestamp / getdate()",
    "regexp_replace": "a dispatched macro (no regular expressions in T-SQL)",
    "regexp_extract": "a dispatched macro (no regular expressions in T-SQL)",
    "regexp_like": "like/patindex()",
    "lpad": "right(replicate('0', n) + x, n)",
    "rpad": "left(x + replicate(' ', n), n)",
    "instr": "charindex()",
    "position": "charindex()",
    "greatest": "case when ... (greatest() is not in Synapse dedicated pools)",
    "least": "case when ... (least() is not in Synapse dedicated pools)",
}

FUNCTION_DENYLIST: Final[dict[Dialect, dict[str, str]]] = {
    "tsql": {**_DUCKDB_ONLY, **_SPARK_ONLY, **_NOT_TSQL},
    "spark": {**_DUCKDB_ONLY, **_TSQL_ONLY},
    "databricks": {**_DUCKDB_ONLY, **_TSQL_ONLY},
    "duckdb": {**_TSQL_ONLY, **_SPARK_ONLY},
}

# cast(... as <type>) targets an engine rejects (types dbt.type_*() would have written right).
CAST_TYPE_DENYLIST: Final[dict[Dialect, dict[str, str]]] = {
    "tsql": {
        "boolean": "bit",
        "bool": "bit",
        "string": "varchar(n) / dbt.type_string()",
        "text": "varchar(n) / dbt.type_string()",
        "timestamp": "datetime2 / dbt.type_timestamp() (timestamp is rowversion in T-SQL)",
        "double": "float / dbt.type_float()",
        "int64": "bigint",
    },
    "spark": {
        "text": "string / dbt.type_string()",
        "varchar": "string / dbt.type_string() (varchar needs a length on Spark)",
        "nvarchar": "string",
        "datetime": "timestamp / dbt.type_timestamp()",
        "datetime2": "timestamp / dbt.type_timestamp()",
        "bit": "boolean",
        "money": "decimal(p, s) / dbt.type_numeric()",
        "uniqueidentifier": "string",
    },
    "duckdb": {
        "datetime2": "timestamp",
        "nvarchar": "varchar",
        "bit": "boolean (bit is a bit string in DuckDB)",
        "money": "decimal(p, s)",
    },
}
CAST_TYPE_DENYLIST["databricks"] = CAST_TYPE_DENYLIST["spark"]

# Constructs, as rule id -> (dialects that reject it, advice). Checked on tokens below.
CONSTRUCT_RULES: Final[dict[str, tuple[frozenset[Dialect], str]]] = {
    "limit": (
        frozenset({"tsql"}),
        "T-SQL has no LIMIT: use top (n) / offset-fetch in a dispatched macro",
    ),
    "double_colon_cast": (
        frozenset({"tsql", "spark"}),
        "`x::type` is not a cast here (Spark 3.5, T-SQL): use cast(x as type)",
    ),
    "qualify": (
        frozenset({"tsql", "spark"}),
        "no QUALIFY here: filter row_number() in an outer select",
    ),
    "ilike": (frozenset({"tsql"}), "T-SQL has no ILIKE: lower(x) like lower(y)"),
    "pipe_concat": (frozenset({"tsql"}), "T-SQL has no ||: use concat() / dbt.concat"),
    "boolean_literal": (
        frozenset({"tsql"}),
        "T-SQL has no true/false literals: 1/0 with bit, or a dispatched macro",
    ),
    "star_modifier": (
        frozenset({"tsql", "spark", "databricks"}),
        "`select * exclude/except/replace (...)` is DuckDB (Databricks: except only): "
        "name the columns",
    ),
    "group_by_all": (
        frozenset({"tsql"}),
        "GROUP BY ALL means something else in T-SQL: group by the columns",
    ),
    "nulls_ordering": (
        frozenset({"tsql"}),
        "T-SQL has no NULLS FIRST/LAST: order by case when x is null ... end",
    ),
}


# --- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledNode:
    """One compiled node of a dbt manifest."""

    unique_id: str
    resource_type: str
    original_file_path: str
    compiled_code: str


@dataclass(frozen=True)
class Finding:
    """Something in one node's compiled SQL that the dialect rejects."""

    unique_id: str
    original_file_path: str
    kind: Kind
    rule: str
    message: str
    line: int | None = None

    def render(self) -> str:
        where = self.original_file_path + (f" (compiled line {self.line})" if self.line else "")
        return f"{where}: [{self.kind}:{self.rule}] {self.message} [{self.unique_id}]"


@dataclass(frozen=True)
class CheckReport:
    """The result of checking one compiled target directory in one dialect."""

    dialect: Dialect
    target_dir: Path
    checked: tuple[str, ...]
    not_compiled: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def passed(self, *, allow_partial: bool = False) -> bool:
        """Nodes were checked, none failed and (unless allowed) none was left uncompiled."""
        complete = allow_partial or not self.not_compiled
        return bool(self.checked) and complete and not self.findings

    def failing_nodes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.unique_id for f in self.findings))


@dataclass(frozen=True)
class Issue:
    """A finding before it is tied to a node: what check_sql() returns."""

    kind: Kind
    rule: str
    message: str
    line: int | None = None


# --- reading the target directory --------------------------------------------------------------


class TargetError(Exception):
    """The target directory holds no usable manifest."""


def load_compiled_nodes(
    target_dir: Path, resource_types: Iterable[str] = CHECKED_RESOURCE_TYPES
) -> tuple[list[CompiledNode], list[str]]:
    """Compiled nodes of `target_dir/manifest.json`, and the ids of wanted nodes not compiled."""
    manifest_path = target_dir / "manifest.json"
    if not manifest_path.is_file():
        raise TargetError(
            f"{manifest_path}: not found. Run `dbt compile --target-path {target_dir}` first."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TargetError(f"{manifest_path}: not valid JSON ({exc}).") from exc
    nodes = manifest.get("nodes") if isinstance(manifest, dict) else None
    if not isinstance(nodes, dict):
        raise TargetError(f"{manifest_path}: no 'nodes' object; is this a dbt manifest?")
    wanted = frozenset(resource_types)
    compiled: list[CompiledNode] = []
    missing: list[str] = []
    for unique_id, node in sorted(nodes.items()):
        if not isinstance(node, dict) or node.get("resource_type") not in wanted:
            continue
        code = node.get("compiled_code")
        if not isinstance(code, str) or not code.strip():
            missing.append(unique_id)
            continue
        compiled.append(
            CompiledNode(
                unique_id=unique_id,
                resource_type=str(node["resource_type"]),
                original_file_path=str(node.get("original_file_path", unique_id)),
                compiled_code=code,
            )
        )
    return compiled, missing


# --- checking SQL ---------------------------------------------------------------------------------

_OPAQUE: Final[frozenset[TokenType]] = frozenset(
    {TokenType.STRING, TokenType.IDENTIFIER, TokenType.NATIONAL_STRING}
)


def _word(token: Token) -> str:
    """The token's text as a bare lowercase word, or '' for strings and quoted identifiers."""
    return "" if token.token_type in _OPAQUE else token.text.lower()


def _construct_issues(tokens: Sequence[Token], dialect: Dialect) -> list[Issue]:
    hits: list[tuple[str, int]] = []
    for i, tok in enumerate(tokens):
        word = _word(tok)
        nxt = _word(tokens[i + 1]) if i + 1 < len(tokens) else ""
        if tok.token_type == TokenType.LIMIT:
            hits.append(("limit", tok.line))
        elif tok.token_type == TokenType.DCOLON:
            hits.append(("double_colon_cast", tok.line))
        elif tok.token_type == TokenType.QUALIFY:
            hits.append(("qualify", tok.line))
        elif tok.token_type == TokenType.ILIKE or word == "ilike":
            hits.append(("ilike", tok.line))
        elif tok.token_type == TokenType.DPIPE:
            hits.append(("pipe_concat", tok.line))
        elif tok.token_type in (TokenType.TRUE, TokenType.FALSE):
            hits.append(("boolean_literal", tok.line))
        elif tok.token_type == TokenType.STAR and nxt in ("exclude", "except", "replace"):
            is_call = i + 2 < len(tokens) and tokens[i + 2].token_type == TokenType.L_PAREN
            if is_call and (dialect != "databricks" or nxt != "except"):
                hits.append(("star_modifier", tok.line))
        elif tok.token_type == TokenType.GROUP_BY and nxt == "all":
            hits.append(("group_by_all", tok.line))
        elif word == "nulls" and nxt in ("first", "last"):
            hits.append(("nulls_ordering", tok.line))
    issues: list[Issue] = []
    for rule, line in hits:
        dialects, advice = CONSTRUCT_RULES[rule]
        if dialect in dialects:
            issues.append(Issue("construct", rule, advice, line))
    return issues


def _function_issues(tokens: Sequence[Token], dialect: Dialect) -> list[Issue]:
    denied = FUNCTION_DENYLIST[dialect]
    issues: list[Issue] = []
    for i, tok in enumerate(tokens[:-1]):
        name = _word(tok)
        if name in denied and tokens[i + 1].token_type == TokenType.L_PAREN:
            if i > 0 and tokens[i - 1].token_type == TokenType.DOT:
                continue  # a column or a qualified user function, not the built-in
            issues.append(
                Issue(
                    "function",
                    name,
                    f"{name}() is not a {dialect} function: use {denied[name]}",
                    tok.line,
                )
            )
    return issues


def _cast_type_issues(tokens: Sequence[Token], dialect: Dialect) -> list[Issue]:
    """Type names after `as` at the top level of cast(...) / try_cast(...)."""
    denied = CAST_TYPE_DENYLIST[dialect]
    issues: list[Issue] = []
    for i, tok in enumerate(tokens[:-1]):
        if _word(tok) not in ("cast", "try_cast") or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        depth = 0
        for j in range(i + 1, len(tokens)):
            kind = tokens[j].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    break
            elif depth == 1 and kind == TokenType.ALIAS and j + 1 < len(tokens):
                type_token = tokens[j + 1]
                after = tokens[j + 2] if j + 2 < len(tokens) else None
                name = _word(type_token)
                has_length = after is not None and after.token_type == TokenType.L_PAREN
                precision = after is not None and _word(after) == "precision"
                if name in denied and not precision and not (name == "varchar" and has_length):
                    issues.append(
                        Issue(
                            "type",
                            name,
                            f"cast(... as {name}) is not a {dialect} type: use {denied[name]}",
                            type_token.line,
                        )
                    )
                break
    return issues


def check_sql(sql: str, dialect: Dialect) -> list[Issue]:
    """Everything in `sql` that `dialect` rejects: parse errors first, then the denylists."""
    engine = SqlglotDialect.get_or_raise(dialect)
    issues: list[Issue] = []
    try:
        tokens = engine.tokenize(sql)
    except TokenError as exc:
        return [Issue("parse", "tokenize", str(exc).splitlines()[0])]
    try:
        sqlglot.parse(sql, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line = first.get("line")
        description = first.get("description") or str(exc).splitlines()[0]
        issues.append(
            Issue(
                "parse",
                "syntax",
                f"{dialect} parser: {description}",
                line if isinstance(line, int) else None,
            )
        )
    issues += _construct_issues(tokens, dialect)
    issues += _function_issues(tokens, dialect)
    issues += _cast_type_issues(tokens, dialect)
    return issues


def check_target(target_dir: Path, dialect: Dialect, *, include_tests: bool = True) -> CheckReport:
    """Check every compiled model (and test, snapshot, analysis) of a dbt target directory."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}: choose one of {', '.join(DIALECTS)}")
    types = CHECKED_RESOURCE_TYPES if include_tests else CHECKED_RESOURCE_TYPES - {"test"}
    nodes, missing = load_compiled_nodes(target_dir, types)
    findings: list[Finding] = []
    for node in nodes:
        for issue in check_sql(node.compiled_code, dialect):
            findings.append(
                Finding(
                    unique_id=node.unique_id,
                    original_file_path=node.original_file_path,
                    kind=issue.kind,
                    rule=issue.rule,
                    message=issue.message,
                    line=issue.line,
                )
            )
    return CheckReport(
        dialect=dialect,
        target_dir=target_dir,
        checked=tuple(n.unique_id for n in nodes),
        not_compiled=tuple(missing),
        findings=tuple(findings),
    )


# --- local Spark configuration ---------------------------------------------------------------

_LOG4J2: Final[str] = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def write_spark_conf(work_dir: Path, *, driver_memory: str = "2g", cores: int = 2) -> Path:
    """Write a SPARK_CONF_DIR for the `spark` target (session mode) under `work_dir`; return it.

    pyspark's launcher reads `$SPARK_CONF_DIR/spark-defaults.conf`, so the profile needs no
    change: the warehouse and the Derby metastore go under `work_dir`, tables are Parquet
    data-source tables (not Hive text tables), ANSI mode is on as on Databricks SQL warehouses,
    the session time zone is UTC and Parquet timestamps read as `timestamp` (naive UTC, as in
    DuckDB and the lake).
    """
    work_dir = work_dir.resolve()
    conf_dir = work_dir / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "spark.master": f"local[{cores}]",
        "spark.driver.memory": driver_memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(cores),
        "spark.sql.ansi.enabled": "true",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.sources.default": "parquet",
        # timestamps as DuckDB and the lake hold them: naive UTC
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
        "spark.sql.warehouse.dir": str(work_dir / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={work_dir / 'derby'}",
    }
    lines = [f"{key} {value}" for key, value in settings.items()]
    (conf_dir / "spark-defaults.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (conf_dir / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")
    return conf_dir


# --- CLI ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion.portability",
        description="Check that a compiled dbt target reads as the given engine's SQL.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--target-dir", type=Path, help="dbt target directory holding manifest.json (compiled)"
    )
    mode.add_argument(
        "--write-spark-conf",
        type=Path,
        metavar="WORK_DIR",
        help="write WORK_DIR/conf (spark-defaults.conf, log4j2.properties) and print its path",
    )
    parser.add_argument(
        "--dialect",
        choices=[*DIALECTS, *sorted(set(TARGET_DIALECT) - set(DIALECTS))],
        help="sqlglot dialect, or a dbt target type (synapse -> tsql)",
    )
    parser.add_argument(
        "--no-tests", action="store_true", help="check models, snapshots and analyses only"
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="pass although some nodes have no compiled SQL (a `dbt compile --select` run)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.write_spark_conf is not None:
        print(write_spark_conf(args.write_spark_conf))
        return 0
    if args.dialect is None:
        print("error: --dialect is required with --target-dir", file=sys.stderr)
        return 2
    dialect = TARGET_DIALECT[args.dialect]
    target_dir: Path = args.target_dir
    version = importlib.metadata.version("sqlglot")
    print(f"portability: checking {target_dir} as {dialect} SQL (sqlglot {version})")
    try:
        report = check_target(target_dir, dialect, include_tests=not args.no_tests)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for finding in report.findings:
        print(f"  FAIL {finding.render()}")
    for unique_id in report.not_compiled:
        print(f"  skip {unique_id}: no compiled SQL in the manifest")
    failing = report.failing_nodes()
    print(
        f"portability: {len(report.checked)} nodes checked, {len(failing)} failing "
        f"({len(report.findings)} findings), {len(report.not_compiled)} not compiled"
    )
    if not report.checked:
        print("error: no compiled node found: run `dbt compile` for this target", file=sys.stderr)
    elif report.not_compiled and not args.allow_partial:
        print(
            "error: some nodes were not compiled: compile the whole project, or --allow-partial",
            file=sys.stderr,
        )
    return 0 if report.passed(allow_partial=args.allow_partial) else 1


if __name__ == "__main__":
    sys.exit(main())
