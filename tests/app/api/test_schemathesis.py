"""Schemathesis with every check, over every operation and every phase (examples, coverage,
fuzzing, and stateful runs that follow the document's links), once with a lead's key and
once with an organisation's: it finds nothing. The app runs on a free port (SQLite);
tests/app/api/schemathesis_hooks.py applies the rules a schema cannot state."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.api import operations
from tests.app.api.live_api import LiveAPI, hook_environment, live_api

ROOT = Path(__file__).resolve().parents[3]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def api() -> Iterator[LiveAPI]:
    with live_api() as found:
        yield found


@pytest.mark.parametrize("caller", ["lead", "organisation"])
def test_schemathesis_finds_nothing(api: LiveAPI, caller: str) -> None:
    key = api.lead_key if caller == "lead" else api.organisation_key
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{api.url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            "8",
            "--seed",
            "20261203",
            "--no-color",
        ],
        cwd=ROOT,
        env={**os.environ, **hook_environment(api), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    # Every operation was exercised (schemathesis leaves out the one serving the document).
    counts = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert counts, run.stdout[-3000:]
    selected, total, tested = map(int, counts.groups())
    assert selected == total == tested == len(operations) - 1, run.stdout[-3000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):  # each ran, none skipped
        assert f"✅ {phase}" in run.stdout, run.stdout[-3000:]
