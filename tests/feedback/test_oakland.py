"""The Lum & Isaac (2016) Oakland setting: bins by list position, the authors' period, feedback measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crimelens.feedback import GridSEPP, Scenario, compare_feedback, oakland_scenario, read_areas
from crimelens.ingest import read_file
from tests.conftest import shared


@pytest.fixture(scope="module")
def oakland() -> Scenario:
    table = read_file(shared("oakland_drug_2010/drug_crimes_with_bins.csv"), format="oakland_lum_isaac").table
    bins = read_areas(shared("oakland_drug_2010/oakland_grid.geojson"), id_field="bin", crs=table.crs)
    return oakland_scenario(table, bins)


def test_scenario_matches_the_raw_file(oakland: Scenario) -> None:
    raw = pd.read_csv(shared("oakland_drug_2010/drug_crimes_with_bins.csv"))
    raw["day"] = pd.to_datetime(raw["OCCURRED"], format="%m/%d/%y")
    raw = raw.dropna(subset=["bin"])
    hist = raw[(raw["day"] >= "2010-01-02") & (raw["day"] < "2010-07-01")]
    sim = raw[(raw["day"] >= "2010-07-01") & (raw["day"] < "2012-01-01")]
    assert oakland.n_cells == 661
    assert oakland.history.shape == (180, 661) and oakland.replay_reported is not None
    assert oakland.replay_reported.shape == (549, 661)
    assert oakland.history.sum() == len(hist)
    assert oakland.replay_reported.sum() == len(sim)
    # bin ids are list positions: column b-1 holds bin b
    per_bin = sim.groupby("bin").size()
    top = int(per_bin.idxmax())
    assert oakland.replay_reported[:, top - 1].sum() == per_bin.max()
    assert oakland.cell_ids is not None and oakland.cell_ids[top - 1] == str(top)


def test_feedback_concentrates_on_the_initial_top_20_and_the_correction_moves_back(oakland: Scenario) -> None:
    c = compare_feedback(oakland, GridSEPP(window_days=180), days=549, correction="ipw", random_state=0)
    nofb, fb, ipw = c.no_feedback, c.feedback, c.corrected
    assert ipw is not None
    assert int(nofb.initial_flags.sum()) == 20
    assert fb.share_to_initial_flags > nofb.share_to_initial_flags
    assert fb.cells_ever_flagged < nofb.cells_ever_flagged
    assert ipw.share_to_initial_flags < fb.share_to_initial_flags
    assert ipw.cells_ever_flagged > fb.cells_ever_flagged
    # every run flags 20 bins a day
    assert np.all(fb.presence.sum(axis=1) == 20)
