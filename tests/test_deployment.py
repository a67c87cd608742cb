"""The deployment file points at the real flow and schedules it at 03:00 Moscow time."""

from pathlib import Path

import yaml
from prefect.utilities.importtools import import_object

from flows.nightly import nightly

PROJECT = Path(__file__).resolve().parents[1]


def test_prefect_yaml_schedules_the_nightly_flow_at_3_moscow():
    spec = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    [deployment] = spec["deployments"]
    assert import_object(str(PROJECT / deployment["entrypoint"])).name == nightly.name
    assert deployment["schedules"] == [{"cron": "0 3 * * *", "timezone": "Europe/Moscow"}]
    assert set(deployment["parameters"]) <= set(nightly.parameters.properties)
