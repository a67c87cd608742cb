"""Unattended nights through the command line, as the 03:00 job runs them: one run per data
directory, crashes that leave nothing running and nothing half-written, and one clear line."""

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest


DAY = "2026-03-31"
GOLDEN = Path(__file__).parent / "golden" / DAY / "balances.csv"
"""the balances of a clean run of DAY on the bundled sample"""


@pytest.fixture
def data_dir(sample_copy) -> Path:
    return sample_copy()


@pytest.fixture
def start(cli_env):
    """start(data_dir, *args, **env): a command-line run in the background."""
    def started(data_dir: Path, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "flows.cli", *args, "--data-dir", str(data_dir)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(**env))
    return started


@pytest.fixture
def cli(start):
    """cli(data_dir, *args, **env): a command-line run to its end."""
    def finished(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
        process = start(data_dir, *args, **env)
        out, err = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return finished


def descendants(pid: int) -> list[int]:
    """Every live process started, directly or not, by `pid` (read from /proc)."""
    children = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            children.setdefault(int(fields["PPid"]), []).append(int(fields["Pid"]))
        except (OSError, ValueError, KeyError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:\t")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for_lock(data_dir: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads((data_dir / ".lock").read_text())
        except (OSError, ValueError):
            time.sleep(0.2)
    raise AssertionError("the first run never took the lock")


def runs(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.sql("SELECT as_of::VARCHAR, status, message FROM runs ORDER BY started_at").fetchall()


def wait_for_a_running_night(data_dir: Path, timeout: float = 300) -> None:
    """Until a night is in progress: its folder being written (out/.<D>.partial, made after the run
    log says `running`), or the run log saying so (a poll that finds the file open by the run
    reads nothing, and a sample night is short)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any((data_dir / "out").glob(".*.partial")):
            return
        try:
            if any(status == "running" for _, status, _ in runs(data_dir)):
                return
        except (duckdb.Error, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError("no night started")


def test_a_second_run_on_the_same_directory_exits_with_one_line_or_waits(data_dir, start, cli):
    first = start(data_dir, "backfill", "--start", "2026-03-30", "--end", DAY)
    holder = wait_for_lock(data_dir)
    busy = cli(data_dir, "run", "--date", DAY)
    assert busy.returncode == 3
    assert busy.stderr == (f"perfone-loyalty: not started: another run holds {data_dir} since {holder['since']} "
                           f"(pid {first.pid}, backfill 2026-03-30..{DAY})\n")
    waited = cli(data_dir, "run", "--date", DAY, "--wait", "300")
    first.communicate(timeout=300)
    assert (first.returncode, waited.returncode) == (0, 0)
    assert waited.stderr.startswith("perfone-loyalty: waiting up to 300 s for the run that holds")
    assert waited.stdout == f"published {data_dir / 'out' / DAY}\n"


def test_kill_9_leaves_nothing_running_and_the_next_run_recovers(data_dir, start, cli):
    killed = start(data_dir, "backfill", "--start", "2026-03-01", "--end", DAY)
    wait_for_a_running_night(data_dir)
    family = descendants(killed.pid)
    assert family, "the run should have its Prefect server as a child by now"
    killed.kill()
    killed.communicate(timeout=60)
    time.sleep(1)
    assert not [pid for pid in family if alive(pid)]
    again = cli(data_dir, "run", "--date", DAY)
    assert again.returncode == 0, again.stderr
    assert (data_dir / "out" / DAY / "balances.csv").read_bytes() == GOLDEN.read_bytes()  # a clean run's
    log = runs(data_dir)
    assert log[-1][1] == "published" and "running" not in {status for _, status, _ in log}
    assert any(message == "stopped before it finished (the process was killed)" for _, _, message in log)


def test_sigterm_says_so_in_one_line_and_records_the_run_as_failed(data_dir, start):
    terminated = start(data_dir, "backfill", "--start", "2026-03-01", "--end", DAY)
    wait_for_a_running_night(data_dir)
    family = descendants(terminated.pid)
    terminated.send_signal(signal.SIGTERM)
    out, err = terminated.communicate(timeout=120)
    assert terminated.returncode == 143
    [line] = err.splitlines()
    assert line.startswith("perfone-loyalty: not published: terminated (SIGTERM) (")
    assert not [pid for pid in family if alive(pid)]
    assert not (data_dir / "out" / DAY).exists()
    assert runs(data_dir)[-1][1:] == ("failed", "terminated (SIGTERM)")


def test_an_emptied_cache_file_is_rebuilt_not_fatal(data_dir, prefect_harness):
    from flows.nightly import nightly

    nightly(dt.date(2026, 3, 30), data_dir)
    counts = list((data_dir / ".staged").rglob("*.rows"))
    for broken in counts[:3]:
        broken.write_text("")  # as a kill mid-write left it before writes were atomic
    segment = next((data_dir / ".staged").rglob("segments/orders-*.parquet"))
    segment.write_bytes(segment.read_bytes()[:100])
    out = Path(nightly(dt.date.fromisoformat(DAY), data_dir))
    assert (out / "balances.csv").read_bytes() == GOLDEN.read_bytes()


def test_the_inbox_staged_while_the_server_starts_is_still_new_to_the_night_and_counted_in_its_stage(data_dir, cli):
    assert cli(data_dir, "run", "--date", "2026-03-30").returncode == 0
    assert cli(data_dir, "run", "--date", DAY).returncode == 0
    first, second = (json.loads((data_dir / "out" / day / "manifest.json").read_text()) for day in ("2026-03-30", DAY))
    assert first["inputs"] and not any(f["staged_before"] for f in first["inputs"])
    new = {f["file"] for f in second["inputs"] if not f["staged_before"]}
    assert new and new == {f["file"] for f in second["inputs"] if f["folder"] == DAY}
    for manifest in (first, second):
        timings = manifest["timings_seconds"]
        assert timings["total_before_publish"] >= sum(v for k, v in timings.items() if k != "total_before_publish")


def test_a_file_that_stops_staging_ahead_is_reported_by_the_night_itself(data_dir, cli):
    (data_dir / "inbox/2026-03-30/orders_broken.csv").write_text("order_id\nO1\n")
    done = cli(data_dir, "run", "--date", "2026-03-30")
    *progress, last = done.stderr.splitlines()
    assert done.returncode == 1 and all(line.startswith("staged ") for line in progress)  # a first load's
    assert last.startswith("perfone-loyalty: not published: inbox/2026-03-30/orders_broken.csv: lacks required")
    assert runs(data_dir)[-1][:2] == ("2026-03-30", "failed")


def test_a_date_out_of_range_is_refused_in_one_line_before_anything_starts(data_dir, cli):
    far = cli(data_dir, "run", "--date", "9999-12-31")
    assert far.returncode == 2 and len(far.stderr.splitlines()) == 1
    assert "9999-12-31 is outside the dates a run accepts" in far.stderr
    assert sorted(p.name for p in data_dir.iterdir()) == ["inbox", "sources.toml"]


def test_a_backfill_prints_each_night_as_it_is_published_and_says_where_it_stopped(data_dir, cli):
    (data_dir / "inbox/2026-03-30/orders_broken.csv").write_text("order_id\nO1\n")
    done = cli(data_dir, "backfill", "--start", "2026-03-27", "--end", DAY, PREFECT_LOGGING_LEVEL="WARNING")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"published {data_dir / 'out' / day}" for day in
                                        ("2026-03-27", "2026-03-28", "2026-03-29")]
    assert done.stderr.splitlines()[-1] == (
        "perfone-loyalty: not published: 2026-03-30: inbox/2026-03-30/orders_broken.csv: lacks required column(s) "
        "line_no, customer_id, channel, paid_at, delivered_at, currency, sku, quantity, unit_price, discount, "
        "points_redeemed, promo_code (published 2026-03-27 .. 2026-03-29 before 2026-03-30 failed)")
    assert done.stderr.splitlines() == [  # whatever Prefect's logging level: no traceback
        *[f"{n} of 5 nights published, the last 2026-03-2{6 + n}" for n in (1, 2, 3)], done.stderr.splitlines()[-1]]


def test_every_option_of_every_command_has_help_and_the_exit_codes_are_listed():
    from flows.cli import parser

    top = parser()
    commands = top._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        undocumented = [a.option_strings for a in sub._actions if a.option_strings and not a.help]
        assert not undocumented, (name, undocumented)
        assert "exit codes:" in sub.format_help() and "143" in sub.format_help()
    verbose_after = parser().parse_args(["run", "--date", DAY, "-v"])
    assert verbose_after.verbose is True


def test_a_reader_of_the_warehouse_delays_a_night_and_one_that_stays_stops_it_with_one_line(tmp_path, monkeypatch):
    import flows.warehouse as warehouse_module

    warehouse = warehouse_module.Warehouse(tmp_path)
    warehouse.start_run("first", dt.date(2026, 3, 30), "rules", "code")

    def reader(seconds: float) -> subprocess.Popen:
        """Another process with warehouse.duckdb open read-only for `seconds`."""
        held = subprocess.Popen([sys.executable, "-c", (
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(tmp_path / 'warehouse.duckdb')!r}, read_only=True)\n"
            f"print('open', flush=True); time.sleep({seconds}); con.close()")],
            stdout=subprocess.PIPE, text=True)
        assert held.stdout.readline() == "open\n"
        return held

    held = reader(1.5)
    started = time.monotonic()
    warehouse.start_run("second", dt.date(2026, 3, 31), "rules", "code")  # waits for the reader
    assert time.monotonic() - started > 0.5
    held.wait(timeout=30)
    assert [status for _, status, _ in runs(tmp_path)] == ["running", "running"]

    monkeypatch.setattr(warehouse_module, "LOCK_WAIT_SECONDS", 0.5)
    held = reader(30)
    try:
        with pytest.raises(warehouse_module.WarehouseBusy) as busy:
            warehouse.finish_run("second", "published")
    finally:
        held.kill()
        held.wait()
    assert str(busy.value) == (f"{tmp_path / 'warehouse.duckdb'} is held open by pid {held.pid} for more than 0.5 s; "
                               "close it (or read a copy of it) and run again")
