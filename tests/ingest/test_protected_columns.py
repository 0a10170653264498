"""Columns that name a suspect's race or sex in records-system shorthand are audit columns, never M.O."""

from __future__ import annotations

from pathlib import Path

from crimelens.ingest import read_file

WHEN = "2024-03-01T10:00:00-06:00,2024-03-01T11:00:00-06:00"


def test_abbreviated_protected_columns_are_kept_for_audit_not_as_attributes(tmp_path: Path) -> None:
    """A privacy officer's export: before, Ethn, susp_gndr, susp_hisp and sexo_sospechoso landed as M.O.
    attributes and the linker used them as features (mo_Ethn, ...)."""
    shorthand = ["Ethn", "susp_gndr", "susp_hisp", "sexo_sospechoso", "M_F"]
    path = tmp_path / "canon.csv"
    path.write_text("incident_id,offense,occurred_from,occurred_to,lon,lat,entry_method," + ",".join(shorthand) + "\n"
                    + f"C1,burglary,{WHEN},-87.60,41.76,rear door,B,M,N,masculino,M\n"
                    + f"C2,burglary,{WHEN},-87.61,41.77,window,W,F,Y,femenino,F\n", encoding="utf-8")
    r = read_file(path)
    assert r.n_landed == 2
    assert r.validated.mo_names == ["entry_method"]
    assert r.validated.frame["mo__0"].tolist() == ["rear door", "window"]
    assert sorted(r.validated.audit["name"].unique()) == sorted(shorthand)
