"""The approval policy's working hours would send every swap of a run after 19:00 or at the
weekend to the approval queue: bulk tests switch that rule off unless a test turns it on (in
this process, and through the environment for a worker started after this fixture)."""

import pytest


@pytest.fixture(autouse=True)
def approval_hours_off(settings, monkeypatch):
    settings.SWAP_APPROVAL_WORKING_HOURS = ""
    monkeypatch.setenv("SWAP_APPROVAL_WORKING_HOURS", "")
