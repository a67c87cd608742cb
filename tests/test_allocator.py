"""Polars' allocator is set up before Polars loads, by every entry point, and jemalloc takes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from flows.allocator import ALLOCATOR_SETTINGS, ALLOCATOR_VARIABLE
from flows.staged_cache import PROJECT_DIR

# Records the variable as it is when Polars is first imported, then loads an entry point.
_PROBE = """
import importlib.abc, os, sys
seen = []
class FirstPolars(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "polars" and not seen:
            seen.append(os.environ.get({variable!r}))
        return None
sys.meta_path.insert(0, FirstPolars())
{load}
print(repr(seen[0]) if seen else "polars never imported")
"""
ENTRY_POINTS = {
    "the command line": "import flows.cli",
    # how a deployment's run loads its entrypoint, flows/nightly.py:nightly
    "the deployment": "from prefect.utilities.importtools import load_script_as_module\n"
                      "load_script_as_module('flows/nightly.py')",
}


def _polars_saw(load: str, environment: dict[str, str]) -> str:
    probe = _PROBE.format(variable=ALLOCATOR_VARIABLE, load=load)
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, env=environment, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _without_variable() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != ALLOCATOR_VARIABLE}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_each_entry_point_sets_the_allocator_up_before_polars_is_loaded(entry):
    assert _polars_saw(ENTRY_POINTS[entry], _without_variable()) == repr(ALLOCATOR_SETTINGS)


def test_an_operators_own_setting_is_kept():
    assert _polars_saw(ENTRY_POINTS["the command line"], _without_variable() | {ALLOCATOR_VARIABLE: ""}) == "''"


def test_jemalloc_takes_every_option():
    """jemalloc ignores an option it does not know, with a line on stderr; asked to print its
    options at exit, it shows the ones in force."""
    environment = _without_variable() | {ALLOCATOR_VARIABLE: ALLOCATOR_SETTINGS + ",stats_print:true,stats_print_opts:J"}
    done = subprocess.run([sys.executable, "-c", "import polars as pl; pl.DataFrame({'a': [1]})"],
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Invalid conf" not in done.stderr, done.stderr
    printed = done.stderr[done.stderr.index("{"):]
    options = json.JSONDecoder().raw_decode(printed)[0]["jemalloc"]["opt"]
    assert {name: options[name] for name in ("thp", "metadata_thp", "dirty_decay_ms", "muzzy_decay_ms")} == {
        "thp": "always", "metadata_thp": "always", "dirty_decay_ms": 10000, "muzzy_decay_ms": 10000}
