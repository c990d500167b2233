"""The fault harness (benchmarks/faults.py), one trial of each kind, as a correctness check.

No timing assertions: a settled swap, the pending code stored, one code applied, no re-send
that could change it. The full run and its timings are in benchmarks/README.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.faults import APP_TIMINGS, KINDS, Lab, Worker, run_trials
from devices.platform_wiring import reset_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lab(sim: Any, platform_settings: Any) -> Any:
    for name, value in APP_TIMINGS.items():
        setattr(platform_settings, name, value)
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 900
    reset_client()
    worker = Worker(platform_settings)
    worker.start()
    yield Lab(sim=sim, worker=worker)
    worker.stop()


def test_no_fault_kind_loses_a_swap_or_changes_its_code(lab: Any) -> None:
    kinds = [kind for kind in KINDS if lab.supports(kind)]
    assert "late_apply" in kinds

    verdicts = run_trials(lab, kinds, trials=len(kinds), seed=7)

    assert sorted(v.kind for v in verdicts) == sorted(kinds)
    assert [v for v in verdicts if v.lost] == []
    assert [v for v in verdicts if v.wrong_code] == []
    assert [v for v in verdicts if v.two_codes] == []
    assert [v for v in verdicts if v.blind_resends] == []
    assert [v for v in verdicts if v.unjustified_refreshes] == []
