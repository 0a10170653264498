"""The open-ended Knox cells ("more than X m", "more than N days") are the complement of the finite
bands, not near-repeat evidence: no star in the tables, no outline in the heat map (drawn from
:meth:`KnoxResult.significant`), an empty ``elevated`` in the CSV, and a note saying why. Before, the Chicago burglary reference table (standard
bands, 99 permutations, seed 1) starred ">= 300 m x [14, 21) d" at ratio 1.0003, p 0.02."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import load_settings
from crimelens.governance import Actor
from crimelens.nearrepeat import OPEN_ENDED_NOTE, KnoxResult
from crimelens.services import open_context
from crimelens.services.nearrepeat import export_run, show_run
from tests.conftest import shared

BANDS = ["--space-bands", "100,200,300", "--time-bands", "7,14,21", "--distance", "manhattan",
         "--permutations", "99", "--seed", "1", "--convention", "standard"]


def _raw(result: KnoxResult) -> NDArray[np.bool_]:
    """The cells a plain "ratio > 1 and p < alpha" reads as elevated, the open-ended ones included."""
    with np.errstate(invalid="ignore"):
        return np.asarray((result.ratio > 1) & (result.p_used < result.alpha))


def test_open_ended_cells_are_never_marked(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    src = shared("knox_reference/chicago_be_month1.csv")
    runner = CliRunner()
    res = runner.invoke(app, ["nearrepeat", str(src), *BANDS, "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    import json

    doc = json.loads(res.output.strip().splitlines()[-1])
    result = KnoxResult.from_dict(doc)
    raw, sig = _raw(result), result.significant()
    R, C = result.shape
    # the reference table has an open-ended cell a plain reading marks: '>= 300 m' x '[14, 21) d'
    assert raw[R - 1, :].any() or raw[:, C - 1].any()
    assert not sig[R - 1, :].any() and not sig[:, C - 1].any()
    assert (sig[: R - 1, : C - 1] == raw[: R - 1, : C - 1]).all() and sig.any()  # the finite cells as before

    # the CLI tables: no star in the open-ended row or column, and the note why
    res = runner.invoke(app, ["nearrepeat", str(src), *BANDS, "--db", str(db)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    open_row = [x for x in lines if x.lstrip("│ ").startswith(">= 300 m")]
    assert open_row and not [x for x in open_row if "*" in x]
    last_cells = [x.rstrip(" │").rsplit("│", 1)[-1] for x in lines if x.lstrip("│ ").startswith("[")]
    assert last_cells and not [c for c in last_cells if "*" in c]  # the '>= 21 d' column
    assert sum("*" in x for x in lines if x.lstrip("│ ").startswith("[")) > 0  # finite cells keep theirs
    assert "The open-ended cells" in " ".join(res.output.split())

    # the CSV export: elevated True/False for finite cells, empty for the open-ended ones, with the note
    with open_context(load_settings(db=db)) as ctx:
        run_id = show_run(ctx, doc["run_id"], actor=Actor("ana"))["run_id"]
        text = export_run(ctx, run_id, "csv", actor=Actor("ana")).decode("utf-8")
    assert f"# elevated: ratio > 1 and p_value < alpha; empty for the open-ended cells. {OPEN_ENDED_NOTE}" in text
    table = pd.read_csv(io.StringIO(text), comment="#", dtype={"elevated": object})
    opened = table["distance_band"].str.startswith(">=") | table["time_band"].str.startswith(">=")
    assert table.loc[opened, "elevated"].isna().all()
    finite = table.loc[~opened, "elevated"]
    assert set(finite) <= {"True", "False"} and (finite == "True").sum() == int(sig.sum())

