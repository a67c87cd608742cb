"""How Polars' memory allocator (its own jemalloc) keeps freed memory: set before Polars is loaded.

A customer part allocates and frees a few GiB within seconds. Polars' built-in settings give
freed pages back to the kernel after half a second, so the next step or part faults them in
again: 8 parts of L spent 5-6 s in the kernel out of 38-46 s of CPU. Kept for ten seconds, the
pages are reused instead: 2.3-3.3 s in the kernel and the same parts about 9% faster, for about
0.3 GiB more resident (BENCHMARKS.md, tenth session).

jemalloc reads `_RJEM_MALLOC_CONF` once, when Polars is first imported, so the entry points (the
command line, the flow module) import this module before anything else. A value the operator
sets is kept; an empty one keeps Polars' own settings.
"""

from __future__ import annotations

import os

ALLOCATOR_VARIABLE = "_RJEM_MALLOC_CONF"
"""The environment variable Polars' jemalloc reads its options from."""
ALLOCATOR_SETTINGS = "thp:always,metadata_thp:always,dirty_decay_ms:10000,muzzy_decay_ms:10000"
"""Freed pages stay with the process for 10 s before they go back to the kernel, and its memory is
asked for in huge pages where the kernel allows them (fewer faults; nothing where it does not)."""

os.environ.setdefault(ALLOCATOR_VARIABLE, ALLOCATOR_SETTINGS)
