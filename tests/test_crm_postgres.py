"""The CRM's way to load Perfone's nightly balances into PostgreSQL (crm/postgres/*.sql), run on a
real server: the first balances.csv, then each night's balances_delta.csv, must leave the table
equal to that night's balances.csv, cell for cell and typed."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

from postgres_server import postgres_url, running_postgres, server_bindir  # noqa: F401 (fixture)

CRM_SQL = Path(__file__).resolve().parents[1] / "crm" / "postgres"


# balances.csv's columns in order, each with how a cell reads in Python (an empty cell is null).
BALANCES_COLUMNS: dict[str, Callable[[str], object]] = {
    "customer_id": str,
    "as_of": dt.date.fromisoformat,
    "tier": str,
    "cashback_pct": int,
    "lifetime_spend": Decimal,
    "next_tier": str,
    "spend_to_next_tier": Decimal,
    "available_points": int,
    "pending_points": int,
    "debt_points": int,
    "next_expiry_date": dt.date.fromisoformat,
    "next_expiry_points": int,
    "expiring_30d_points": int,
    "earned_points": int,
    "redeemed_points": int,
    "expired_points": int,
    "clawed_back_points": int,
    "restored_points": int,
    "birthday_points": int,
    "adjusted_points": int,
}

PSQL_COPY = re.compile(r"\\copy\s+(?P<target>.+?)\s+from\s+pstdin\b(?P<options>.*)", re.IGNORECASE)
PSQL_VARIABLE = re.compile(r":'(\w+)'")
PSQL_SETTINGS = ("\\set ON_ERROR_STOP on",)


def psql_steps(script: Path, variables: Mapping[str, str]) -> list[tuple[str, str]]:
    """A crm/postgres script as steps: ("sql", statements) and ("copy", a COPY ... FROM STDIN),
    psql's `:'name'` replaced by the variable as a quoted literal."""

    def literal(match: re.Match) -> str:
        if match[1] not in variables:
            raise ValueError(f"{script.name} needs the variable {match[1]} (psql -v {match[1]}=...)")
        return sql.Literal(variables[match[1]]).as_string()

    steps: list[tuple[str, str]] = []
    statements: list[str] = []
    for line in script.read_text(encoding="utf-8").splitlines():
        if not line.startswith("\\"):
            statements.append(PSQL_VARIABLE.sub(literal, line))
            continue
        if "".join(statements).strip():
            steps.append(("sql", "\n".join(statements)))
        statements = []
        if copy := PSQL_COPY.fullmatch(line.strip()):
            steps.append(("copy", f"COPY {copy['target']} FROM STDIN{copy['options']}"))
        elif line.strip() not in PSQL_SETTINGS:
            raise ValueError(f"{script.name}: psql command not understood by psql_steps: {line}")
    if "".join(statements).strip():
        steps.append(("sql", "\n".join(statements)))
    return steps


def run_psql_script(
    conn: psycopg.Connection, script: Path, stdin: Path | None = None, variables: Mapping[str, str] | None = None
) -> None:
    """Run a crm/postgres script as `psql -v name=value -f script < stdin` does, so that the tests run
    the very files the CRM runs; `\\copy ... FROM pstdin` streams `stdin`. On an error the open
    transaction is rolled back, as when psql stops and disconnects."""
    if not conn.autocommit:
        raise ValueError("run_psql_script needs an autocommit connection: the scripts hold their own BEGIN/COMMIT")
    steps = psql_steps(script, variables or {})
    try:
        with conn.cursor() as cursor:
            for kind, statement in steps:
                if kind == "sql":
                    cursor.execute(statement)
                    continue
                if stdin is None:
                    raise ValueError(f"{script.name} reads its data from stdin: give the file")
                with cursor.copy(statement) as pipe, open(stdin, "rb") as data:
                    while block := data.read(1 << 20):
                        pipe.write(block)
    except BaseException:
        if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.rollback()
        raise


def create_table(conn: psycopg.Connection) -> None:
    """An empty loyalty_balance (crm/postgres/balances.sql), as the CRM creates it once."""
    run_psql_script(conn, CRM_SQL / "balances.sql")


def load_snapshot(conn: psycopg.Connection, path: Path) -> None:
    """Replace loyalty_balance with a balances.csv (crm/postgres/load_snapshot.sql)."""
    run_psql_script(conn, CRM_SQL / "load_snapshot.sql", stdin=path)


def apply_delta(conn: psycopg.Connection, path: Path, as_of: dt.date | None = None) -> None:
    """Apply a balances_delta.csv for night `as_of` (crm/postgres/apply_delta.sql); the night
    defaults to the name of the file's folder, out/<D>/."""
    night = as_of or dt.date.fromisoformat(path.parent.name)
    run_psql_script(conn, CRM_SQL / "apply_delta.sql", stdin=path, variables={"as_of": night.isoformat()})


def table_rows(conn: psycopg.Connection) -> dict[str, tuple]:
    """loyalty_balance by customer_id, each row in balances.csv's column order, as psycopg types it."""
    columns = sql.SQL(", ").join(map(sql.Identifier, BALANCES_COLUMNS))
    query = sql.SQL("SELECT {} FROM loyalty_balance").format(columns)
    return {row[0]: row for row in conn.execute(query).fetchall()}


def csv_rows(path: Path) -> dict[str, tuple]:
    """A balances.csv by customer_id, each cell typed as the table should hold it (empty = null)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert header == list(BALANCES_COLUMNS), f"{path}: columns {header}, expected {list(BALANCES_COLUMNS)}"
        readers = BALANCES_COLUMNS.values()
        rows = [
            tuple(read(cell) if cell else None for read, cell in zip(readers, cells, strict=True))
            for cells in reader
        ]
    by_customer = {row[0]: row for row in rows}
    assert len(by_customer) == len(rows), f"{path}: a customer_id appears more than once"
    return by_customer


def assert_table_equals_csv(conn: psycopg.Connection, path: Path) -> None:
    """loyalty_balance holds exactly the rows of the balances.csv at `path`: same customers, every
    cell equal in value and Python type. Fails listing customers only in the table, only in the
    file, and the first differing cells."""
    table, expected = table_rows(conn), csv_rows(path)
    only_table = sorted(table.keys() - expected.keys())
    only_file = sorted(expected.keys() - table.keys())
    differing = [
        f"{customer} {column}: table {got!r}, file {want!r}"
        for customer in sorted(table.keys() & expected.keys())
        for column, got, want in zip(BALANCES_COLUMNS, table[customer], expected[customer])
        if type(got) is not type(want) or got != want
    ]
    assert not (only_table or only_file or differing), (
        f"loyalty_balance differs from {path}: "
        f"customers only in the table ({len(only_table)}): {only_table[:5]}, "
        f"only in the file ({len(only_file)}): {only_file[:5]}; "
        f"cells that differ ({len(differing)}):\n" + "\n".join(differing[:20])
    )


@pytest.fixture
def crm_db(postgres_url: str) -> Iterator[psycopg.Connection]:  # noqa: F811
    """An autocommit connection to a fresh database holding an empty loyalty_balance."""
    name = f"crm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(make_conninfo(postgres_url, dbname=name), autocommit=True) as conn:
            create_table(conn)
            yield conn
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


HEADER = ",".join(BALANCES_COLUMNS)

# 2026-04-01: four customers. The first carries spreadsheet and HTML injections; C-0005 is at the
# top tier (no next tier); C-0003 is in debt with nothing left to expire.
SNAPSHOT = f'''\
{HEADER}
"=HYPERLINK(""http://x"",""y"")",2026-04-01,<script>alert(1)</script>,5,290000.00,standart,10000.00,14000,500,0,2026-04-30,3000,3000,14500,2000,0,0,0,10000,-8000
C-0002,2026-04-01,luxe,20,2990000.00,premium,10000.00,120000,0,0,2026-12-31,40000,0,150000,30000,10000,0,0,10000,0
C-0003,2026-04-01,base,5,20000.00,standart,280000.00,0,0,300,,,0,1000,1000,0,300,0,0,0
C-0005,2026-04-01,premium,25,3500000.00,,,200000,0,0,2026-05-15,50000,0,250000,50000,0,1000,1000,0,0
'''

# 2026-04-02: C-0002 bought for 20000.00 and reached the top tier (its next_tier written as "",
# which is null too); C-0003 is gone; a customer whose id holds a comma and quotes is new.
DELTA = f'''\
{HEADER},change
C-0002,2026-04-02,premium,25,3010000.00,"",,120000,5000,0,2026-12-31,40000,0,155000,30000,10000,0,0,10000,0,changed
C-0003,2026-04-02,,,,,,,,,,,,,,,,,,,removed
"Ivanov, ""Ivan""",2026-04-02,gold,10,700000.00,platinum,300000.00,0,70000,0,,,0,70000,0,0,0,0,0,0,new
'''

FINAL = f'''\
{HEADER}
"=HYPERLINK(""http://x"",""y"")",2026-04-02,<script>alert(1)</script>,5,290000.00,standart,10000.00,14000,500,0,2026-04-30,3000,3000,14500,2000,0,0,0,10000,-8000
C-0002,2026-04-02,premium,25,3010000.00,,,120000,5000,0,2026-12-31,40000,0,155000,30000,10000,0,0,10000,0
"Ivanov, ""Ivan""",2026-04-02,gold,10,700000.00,platinum,300000.00,0,70000,0,,,0,70000,0,0,0,0,0,0
C-0005,2026-04-02,premium,25,3500000.00,,,200000,0,0,2026-05-15,50000,0,250000,50000,0,1000,1000,0,0
'''

APRIL_2 = dt.date(2026, 4, 2)
FINAL_ROWS = {
    '=HYPERLINK("http://x","y")': (
        '=HYPERLINK("http://x","y")', APRIL_2, "<script>alert(1)</script>", 5, Decimal("290000.00"), "standart",
        Decimal("10000.00"), 14000, 500, 0, dt.date(2026, 4, 30), 3000, 3000, 14500, 2000, 0, 0, 0, 10000, -8000,
    ),
    "C-0002": (
        "C-0002", APRIL_2, "premium", 25, Decimal("3010000.00"), None,
        None, 120000, 5000, 0, dt.date(2026, 12, 31), 40000, 0, 155000, 30000, 10000, 0, 0, 10000, 0,
    ),
    'Ivanov, "Ivan"': (
        'Ivanov, "Ivan"', APRIL_2, "gold", 10, Decimal("700000.00"), "platinum",
        Decimal("300000.00"), 0, 70000, 0, None, None, 0, 70000, 0, 0, 0, 0, 0, 0,
    ),
    "C-0005": (
        "C-0005", APRIL_2, "premium", 25, Decimal("3500000.00"), None,
        None, 200000, 0, 0, dt.date(2026, 5, 15), 50000, 0, 250000, 50000, 0, 1000, 1000, 0, 0,
    ),
}


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8", newline="")
    return path


@pytest.fixture
def nights(tmp_path: Path) -> dict[str, Path]:
    """The hand-made files in out/<D>/ folders, as the pipeline publishes them."""
    return {
        "snapshot": write(tmp_path / "out" / "2026-04-01" / "balances.csv", SNAPSHOT),
        "delta": write(tmp_path / "out" / "2026-04-02" / "balances_delta.csv", DELTA),
        "final": write(tmp_path / "out" / "2026-04-02" / "balances.csv", FINAL),
    }


def test_snapshot_then_delta_is_the_next_snapshot(crm_db, nights):
    load_snapshot(crm_db, nights["snapshot"])
    assert_table_equals_csv(crm_db, nights["snapshot"])

    apply_delta(crm_db, nights["delta"])

    assert table_rows(crm_db) == FINAL_ROWS
    assert_table_equals_csv(crm_db, nights["final"])


def test_table_types(crm_db):
    columns = crm_db.execute(
        "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable"
        " FROM information_schema.columns WHERE table_name = 'loyalty_balance' ORDER BY ordinal_position"
    ).fetchall()
    points = ("integer", 32, 0, "NO")
    assert columns == [
        ("customer_id", "text", None, None, "NO"),
        ("as_of", "date", None, None, "NO"),
        ("tier", "text", None, None, "NO"),
        ("cashback_pct", *points),
        ("lifetime_spend", "numeric", 18, 2, "NO"),
        ("next_tier", "text", None, None, "YES"),
        ("spend_to_next_tier", "numeric", 18, 2, "YES"),
        ("available_points", *points),
        ("pending_points", *points),
        ("debt_points", *points),
        ("next_expiry_date", "date", None, None, "YES"),
        ("next_expiry_points", "integer", 32, 0, "YES"),
        ("expiring_30d_points", *points),
        ("earned_points", *points),
        ("redeemed_points", *points),
        ("expired_points", *points),
        ("clawed_back_points", *points),
        ("restored_points", *points),
        ("birthday_points", *points),
        ("adjusted_points", *points),
    ]
    assert crm_db.execute(
        "SELECT a.attname FROM pg_index AS i"
        " JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = 'loyalty_balance'::regclass AND i.indisprimary"
    ).fetchall() == [("customer_id",)]


def test_a_quiet_night_only_moves_as_of(crm_db, nights, tmp_path):
    load_snapshot(crm_db, nights["snapshot"])

    apply_delta(crm_db, write(tmp_path / "out" / "2026-04-02" / "balances_delta.csv", f"{HEADER},change\n"))

    expected = write(tmp_path / "expected.csv", SNAPSHOT.replace(",2026-04-01,", ",2026-04-02,"))
    assert_table_equals_csv(crm_db, expected)


def test_reloading_a_snapshot_replaces_the_table(crm_db, nights):
    load_snapshot(crm_db, nights["snapshot"])
    load_snapshot(crm_db, nights["final"])
    assert table_rows(crm_db) == FINAL_ROWS


DELTA_HEADER = f"{HEADER},change"
C0002_CHANGED = (
    "C-0002,2026-04-02,premium,25,3010000.00,,,120000,5000,0,2026-12-31,40000,0,155000,30000,10000,0,0,10000,0"
)
MISFIT = "do not fit the snapshot"
NOT_AFTER = "is not after the loaded snapshot"


@pytest.mark.parametrize(
    ("night", "lines", "error"),
    [
        pytest.param("2026-04-02", ["C-0004,2026-04-02,,,,,,,,,,,,,,,,,,,removed"], MISFIT, id="removed-unknown"),
        pytest.param("2026-04-02", [C0002_CHANGED.replace("C-0002", "C-9") + ",changed"], MISFIT, id="changed-absent"),
        pytest.param("2026-04-02", [C0002_CHANGED + ",new"], MISFIT, id="new-but-present"),
        pytest.param("2026-04-01", [], NOT_AFTER, id="same-night-again"),
        pytest.param("2026-03-31", [], NOT_AFTER, id="older-night"),
        pytest.param("2026-04-03", [C0002_CHANGED + ",changed"], "as_of_check", id="row-of-another-night"),
        pytest.param("2026-04-02", [C0002_CHANGED + ",updated"], "change_check", id="unknown-change"),
        pytest.param(
            "2026-04-02", [C0002_CHANGED.replace(",155000,", ",3000000000,") + ",changed"], "out of range",
            id="points-beyond-integer",
        ),
        pytest.param(
            "2026-04-02", [C0002_CHANGED.replace(",premium,", ",,") + ",changed"], 'null value in column "tier"',
            id="changed-without-tier",
        ),
        pytest.param("2026-04-02", [C0002_CHANGED + ",changed"] * 2, "duplicate key", id="customer-twice"),
    ],
)
def test_a_delta_that_does_not_fit_changes_nothing(crm_db, nights, tmp_path, night, lines, error):
    load_snapshot(crm_db, nights["snapshot"])
    delta = write(tmp_path / "out" / night / "balances_delta.csv", "\n".join([DELTA_HEADER, *lines]) + "\n")

    with pytest.raises(psycopg.Error, match=error):
        apply_delta(crm_db, delta)

    assert_table_equals_csv(crm_db, nights["snapshot"])


def test_files_with_reordered_columns_are_refused(crm_db, nights, tmp_path):
    load_snapshot(crm_db, nights["snapshot"])
    swapped = "available_points,pending_points", "pending_points,available_points"
    with pytest.raises(psycopg.Error, match="column name mismatch"):
        load_snapshot(crm_db, write(tmp_path / "swapped.csv", SNAPSHOT.replace(*swapped, 1)))
    with pytest.raises(psycopg.Error, match="column name mismatch"):
        apply_delta(crm_db, write(tmp_path / "out" / "2026-04-02" / "balances_delta.csv", DELTA.replace(*swapped)))
    assert_table_equals_csv(crm_db, nights["snapshot"])


def test_assert_table_equals_csv_names_what_differs(crm_db, nights, tmp_path):
    load_snapshot(crm_db, nights["snapshot"])
    cases = {
        "C-0003 redeemed_points: table 1000, file 1001": SNAPSHOT.replace(",1000,1000,0,300,", ",1000,1001,0,300,"),
        "C-0002 lifetime_spend: table Decimal('2990000.00'), file Decimal('2990000.001')": SNAPSHOT.replace(
            "2990000.00", "2990000.001"
        ),
        "C-0005 next_tier: table None, file 'luxe'": SNAPSHOT.replace("3500000.00,,", "3500000.00,luxe,"),
        "customers only in the table (1): ['C-0005']": SNAPSHOT[: SNAPSHOT.index("C-0005")],
    }
    for message, content in cases.items():
        with pytest.raises(AssertionError, match=re.escape(message)):
            assert_table_equals_csv(crm_db, write(tmp_path / "other.csv", content))


def test_the_readme_psql_commands(crm_db, nights, postgres_url):  # noqa: F811
    """crm/README.md's commands, through psql itself: its \\copy from pstdin and -v as_of."""
    url = make_conninfo(postgres_url, dbname=crm_db.info.dbname)
    psql = [str(server_bindir() / "psql"), url, "--no-psqlrc", "--quiet"]
    crm_db.execute("DROP TABLE loyalty_balance")

    def run(*arguments: str, stdin: Path | None = None) -> subprocess.CompletedProcess:
        with open(stdin or os.devnull, "rb") as data:
            return subprocess.run([*psql, *arguments], stdin=data, capture_output=True, text=True, timeout=60)

    assert run("-f", str(CRM_SQL / "balances.sql")).returncode == 0
    assert run("-f", str(CRM_SQL / "load_snapshot.sql"), stdin=nights["snapshot"]).returncode == 0
    assert_table_equals_csv(crm_db, nights["snapshot"])

    missing_night = run("-f", str(CRM_SQL / "apply_delta.sql"), stdin=nights["delta"])
    assert missing_night.returncode == 3 and "syntax error" in missing_night.stderr
    assert_table_equals_csv(crm_db, nights["snapshot"])

    applied = run("-v", "as_of=2026-04-02", "-f", str(CRM_SQL / "apply_delta.sql"), stdin=nights["delta"])
    assert applied.returncode == 0, applied.stderr
    assert_table_equals_csv(crm_db, nights["final"])

    again = run("-v", "as_of=2026-04-02", "-f", str(CRM_SQL / "apply_delta.sql"), stdin=nights["delta"])
    assert again.returncode == 3 and NOT_AFTER in again.stderr
    assert_table_equals_csv(crm_db, nights["final"])


def test_the_server_is_stopped_and_removed_even_after_an_error():
    with pytest.raises(RuntimeError, match="inside"):
        with running_postgres() as server:
            with psycopg.connect(server.url) as conn:
                data = Path(conn.execute("SHOW data_directory").fetchone()[0])
                pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity").fetchall()]
            pids.append(int((data / "postmaster.pid").read_text().splitlines()[0]))
            raise RuntimeError("inside")
    assert not data.parent.exists()
    listed = subprocess.run(["ps", "-o", "pid=,stat=", "-p", ",".join(map(str, pids))], capture_output=True, text=True)
    assert [line for line in listed.stdout.splitlines() if not line.split()[1].startswith("Z")] == []  # Z: exited


def test_a_week_of_nightly_deltas_rebuilds_each_snapshot_in_postgres(crm_db, tmp_path, prefect_harness):
    """A week of the bundled sample backfilled: each night's delta applied to the night before is
    that night's balances, in Polars and in PostgreSQL."""
    import shutil

    import polars as pl

    from flows.nightly import DEFAULT_DATA_DIR, backfill
    from transforms.delta import apply_delta as applied

    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR / "inbox", data_dir / "inbox")
    days = [Path(p) for p in backfill(dt.date(2026, 2, 8), dt.date(2026, 2, 14), data_dir)]
    first = pl.read_csv(days[0] / "balances_delta.csv", infer_schema=False)
    assert set(first["change"]) == {"new"} and first.height == pl.read_csv(days[0] / "balances.csv").height
    changed = 0
    load_snapshot(crm_db, days[0] / "balances.csv")
    for before, day in zip(days, days[1:]):
        delta = pl.read_parquet(day / "balances.parquet").head(0).with_columns(pl.lit(None, pl.String).alias("change"))
        delta = pl.read_csv(day / "balances_delta.csv", schema=delta.schema)
        changed += delta.height
        expected = pl.read_parquet(day / "balances.parquet")
        assert applied(pl.read_parquet(before / "balances.parquet"), delta, expected["as_of"][0]).equals(expected)
        apply_delta(crm_db, day / "balances_delta.csv")
        assert_table_equals_csv(crm_db, day / "balances.csv")
    assert 0 < changed < 6 * expected.height  # quiet customers are not sent again
