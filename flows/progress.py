"""Progress of long work (a backfill's nights, a first load's staging), told as log records.

Steps log to the `perfone.progress` logger with `done`, `total` and `rows` (how many of what the
step counts, and input rows so far); where that goes is the caller's choice: the command line
draws a bar on a terminal and writes plain lines otherwise, a deployment's logs get plain lines.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("perfone.progress")


def tell(message: str, done: int, total: int, rows: int = 0) -> None:
    log.info(message, extra={"done": done, "total": total, "rows": rows})


class ProgressHandler(logging.Handler):
    """Progress records on stderr: on a terminal, one bar redrawn in place (done/total, rows per
    second, time left); elsewhere one plain line each."""

    def __init__(self, stream=None):
        super().__init__(logging.INFO)
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.drawn = False

    def emit(self, record: logging.LogRecord) -> None:
        done, total, rows = (getattr(record, name, None) for name in ("done", "total", "rows"))
        message = record.getMessage()
        if not self.stream.isatty() or not total:
            self.stream.write(f"{message}\n")
            self.stream.flush()
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        left = elapsed / done * (total - done) if done else 0
        width = 24
        filled = width * done // total
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        rate = f"{rows / elapsed:,.0f} rows/s".replace(",", " ")
        self.stream.write(f"\r{bar}  {rate}  {int(left) // 60:d}:{int(left) % 60:02d} left  {message[:60]:<60}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
        self.drawn = done < total

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
        super().close()
