"""Wear before a failure: a slow drift inside the noise, from the P point to the failure."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.messages import Reading
from producers.faults import FaultSpec
from producers.fleet import Fleet
from producers.wear import Wear

FAULT = FaultSpec("asset-000", "bearing_wear", 1200.0)  # fails at 1260 s


def channel(fleet: Fleet, name: str) -> np.ndarray:
    values = [r.values[name] for r in fleet.records(1300) if isinstance(r, Reading)]
    return np.array(values)


def test_without_wear_the_stream_is_unchanged():
    assert list(Fleet(1, seed=3, faults=[FAULT], interval_s=1.0).records(1300)) == list(
        Fleet(1, seed=3, faults=[FAULT], interval_s=1.0, wear=Wear(0.0)).records(1300)
    )


def test_the_fault_channels_drift_by_about_sd_noise_sds_at_onset_and_not_before_p():
    plain = Fleet(1, seed=3, faults=[FAULT], interval_s=1.0)
    worn = Fleet(1, seed=3, faults=[FAULT], interval_s=1.0, wear=Wear(600.0, 2.0))
    for name in ("vibration_hf_g", "vibration_rms_mm_s"):  # bearing wear's strongest two
        base, drifted = channel(plain, name), channel(worn, name)
        assert np.allclose(base[:600], drifted[:600])  # healthy until P (600 s before onset)
        noise = np.std(base[100:590])
        rise = np.mean(drifted[1100:1200] - base[1100:1200])  # ramp at ~5/6 .. 1
        assert 1.3 * noise < rise < 2.2 * noise
        assert np.all(np.abs(drifted[600:1200] - base[600:1200]) < 2.5 * noise * 1.1 + 1e-3)
    untouched = channel(plain, "flow_m3_h"), channel(worn, "flow_m3_h")
    assert np.allclose(*untouched)


def test_wear_never_starts_before_the_previous_restart():
    faults = [FaultSpec("asset-000", "bearing_wear", 100.0), FAULT]  # repaired at 460 s
    worn = Fleet(1, seed=3, faults=faults, interval_s=1.0, wear=Wear(5000.0))
    (span,) = [s for s in worn._wear if s.onset_s == 1200.0]
    assert span.start_s >= 460.0


def test_wear_settings_are_checked():
    with pytest.raises(ValueError, match="finite"):
        Wear(float("nan"))
    with pytest.raises(ValueError, match="shape"):
        Wear(600.0, 1.0, 0.0)


def test_accelerating_wear_reaches_the_same_drift_at_the_onset_later():
    healthy = channel(Fleet(1, seed=3, faults=[FAULT], interval_s=1.0), "vibration_hf_g")
    drift = {
        shape: channel(
            Fleet(1, seed=3, faults=[FAULT], interval_s=1.0, wear=Wear(600.0, 2.0, shape)),
            "vibration_hf_g",
        )
        - healthy
        for shape in (1.0, 2.0)
    }
    halfway, onset = 900, 1199  # the fault begins at 1200 s, its wear at 600 s
    assert 0 < drift[2.0][halfway] < 0.6 * drift[1.0][halfway]
    assert drift[2.0][onset] == pytest.approx(drift[1.0][onset], rel=0.05)
