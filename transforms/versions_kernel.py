"""RULES 12 for order lines, as one pass of a compiled kernel over rows sorted by order and line.

Comparing every version of every line with Polars joins copies the whole order history several
times; this kernel reads each row once. Ids and text are compared by 64-bit hashes here, and the
caller checks every equality the kernel relied on against the real values afterwards (equal
values always hash equal, so only an "equal" answer can be wrong).

Row statuses: the standing version, a repeat that adds nothing, or one of three conflicts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

STANDING, REPEAT, HEADER_CONFLICT, CONTENT_CONFLICT, DELIVERY_CONFLICT = range(5)
NO_DELIVERY = np.iinfo(np.int64).min


@njit(cache=True, nogil=True)
def resolve_versions(order, line, arrival, header, content, delivered):
    """Status of every row, with the row its header and content were compared with.

    Rows come sorted by (order, line, arrival); `order` and `line` are hashes of the order id and
    of (order id, line_no), `header` and `content` hashes of those columns, `delivered` NO_DELIVERY when
    empty. Returns (status, header_row, first_row, delivery_row) by sorted position; rows are
    named by their arrival number. first_row is -1 when a line has no version under the order's
    header; delivery_row (standing rows only) -1 when no accepted version carries a delivery.
    """
    n = order.shape[0]
    status = np.empty(n, np.int8)
    header_row = np.empty(n, np.int64)
    first_row = np.full(n, -1, np.int64)
    delivery_row = np.full(n, -1, np.int64)
    start = 0
    while start < n:
        end = start
        h = start
        while end < n and order[end] == order[start]:
            if arrival[end] < arrival[h]:
                h = end
            end += 1
        line_start = start
        while line_start < end:
            line_end = line_start
            while line_end < end and line[line_end] == line[line_start]:
                line_end += 1
            f = -1
            for r in range(line_start, line_end):
                if f < 0 and header[r] == header[h]:
                    f = r
            d = -1
            for r in range(line_start, line_end):
                header_row[r] = arrival[h]
                if f >= 0:
                    first_row[r] = arrival[f]
                if header[r] != header[h]:
                    status[r] = HEADER_CONFLICT
                elif content[r] != content[f]:
                    status[r] = CONTENT_CONFLICT
                else:
                    status[r] = STANDING if r == f else REPEAT
                    if delivered[r] != NO_DELIVERY:
                        if d < 0:
                            d = r
                        elif delivered[r] != delivered[d]:
                            status[r] = DELIVERY_CONFLICT
            if f >= 0 and d >= 0:
                delivery_row[f] = arrival[d]
            line_start = line_end
        start = end
    return status, header_row, first_row, delivery_row
