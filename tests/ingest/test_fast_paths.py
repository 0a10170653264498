"""The ingest fast paths answer exactly what the general code answers, across CSV block boundaries too.

Each vectorised path in ``crimelens.ingest._fast`` is checked against the code it
stands in for (Arrow's strptime path for times, ``pandas.to_numeric``, the plain
trim/null kernels, ``json.dumps``), and whole files that span several CSV blocks
keep their line numbers, quarantine and M.O. JSON right through the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crimelens._arrow import mo_json
from crimelens.config import Settings
from crimelens.errors import CrimelensError
from crimelens.governance import Actor
from crimelens.ingest import read_file
from crimelens.ingest._fast import NULL_TOKENS, clean_strings, provably_unique, to_float
from crimelens.ingest._read import BLOCK_BYTES
from crimelens.ingest._validate import _fast_iso_with_offset, _iso_with_offset_strptime
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file

ANALYST = Actor("analyst")


# --- times -------------------------------------------------------------------------------------
def _same_times(fast: pd.Series | None, exact: pd.Series | None) -> None:
    assert (fast is None) == (exact is None)
    if fast is not None and exact is not None:
        assert fast.isna().tolist() == exact.isna().tolist()
        assert (fast.dropna() == exact.dropna()).all()


digit2 = st.integers(0, 99).map(lambda v: f"{v:02d}")
shaped_times = st.builds(
    lambda y, mo, d, sep, h, mi, s, tail: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}:{s}{tail}",
    st.integers(0, 9999), digit2, digit2, st.sampled_from("T "), digit2, digit2, digit2,
    st.one_of(st.just("Z"), st.builds(lambda sign, oh, om: f"{sign}{oh}:{om}", st.sampled_from("+-"), digit2, digit2)),
)
odd_times = st.sampled_from(["2024-01-01_10:00:00Z", "2024-01-01T10:00:00", "2024-01-01  10:00:00Z", "2024-1-01T10:00:00Z", "", "z",
                             "2024-01-01T10:00:00z", "2024-01-01T10:00:00+0100", "2024-01-01T10:00:00.5Z"])


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.one_of(shaped_times, shaped_times, st.none(), odd_times), min_size=1, max_size=30))
def test_byte_position_times_equal_arrow_strptime(values: list[str | None]) -> None:
    text = pd.Series(values, dtype="string")
    _same_times(_fast_iso_with_offset(text), _iso_with_offset_strptime(text))


def test_byte_position_times_on_calendar_edges() -> None:
    values = ["2024-02-29T23:59:59+00:00", "2023-02-29T00:00:00Z", "2000-02-29T12:00:00-05:30",
              "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-12-31T23:59:59+14:00",
              "2024-01-01T00:00:00-12:00", "1799-12-31T23:59:59Z", "2201-01-01T00:00:00Z",
              "2024-06-01T24:00:00Z", "2024-06-01T10:60:00Z", "2024-06-01T10:00:60Z", "2024-06-01T10:00:00+00:60",
              None, "2024-06-01T10:00:00+99:59"]
    text = pd.Series(values, dtype="string")
    fast = _fast_iso_with_offset(text)
    _same_times(fast, _iso_with_offset_strptime(text))
    assert fast is not None
    assert fast[0] == pd.Timestamp("2024-02-29T23:59:59Z")
    assert fast[2] == pd.Timestamp("2000-02-29T17:30:00Z")
    assert pd.isna(fast[1]) and pd.isna(fast[3]) and pd.isna(fast[4])  # no such calendar dates


def test_space_separated_times_equal_the_general_iso_parser() -> None:
    # RFC 3339 lets a space stand for 'T'; many exports write it. The fast path must read such
    # values exactly as pandas' ISO 8601 parser (the general path they went to before) does.
    values = ["2024-01-01 06:00:00Z", "2024-03-10 02:30:00-06:00", "2024-02-29 23:59:59+05:30",
              "2023-02-29 00:00:00Z", "2024-06-01 24:00:00Z", None, "2024-12-31 23:59:59+14:00"]
    text = pd.Series(values, dtype="string")
    fast = _fast_iso_with_offset(text)
    assert fast is not None
    general = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")
    assert fast.isna().tolist() == general.isna().tolist() == [False, False, False, True, True, True, False]
    assert (fast.dropna() == general.dropna()).all()
    with_t = _fast_iso_with_offset(text.str.replace(" ", "T", n=1))
    assert with_t is not None and with_t.isna().tolist() == fast.isna().tolist()
    assert (with_t.dropna() == fast.dropna()).all()


def test_a_column_of_another_shape_goes_to_the_general_parser() -> None:
    text = pd.Series(["2024-06-01T10:00:00Z"] * 2000 + ["2024-06-01 10:00"], dtype="string")
    assert _fast_iso_with_offset(text) is None


# --- strings, numbers, ids --------------------------------------------------------------------
def _plain_clean(arr: pa.ChunkedArray) -> list[str | None]:
    trimmed = pc.utf8_trim_whitespace(arr)
    tokens = pa.array(NULL_TOKENS, type=arr.type)
    return pc.if_else(pc.is_in(trimmed, value_set=tokens), pa.scalar(None, arr.type), trimmed).to_pylist()


@pytest.mark.parametrize("chunk", [
    ["plain", "values", "only"],
    [" lead", "trail ", "\u00a0nbsp\u00a0", "tab\t", "in side"],
    ["", "NA", "N/A", "null", "None", "nan", "NaN", "NULL", " NA ", "NAN", "Nones"],
    ["\u3000ideographic", "x\u2003", "é", "ok"],
])
def test_clean_strings_equals_trim_then_null_tokens(chunk: list[str]) -> None:
    arr = pa.chunked_array([pa.array(["long enough value"] * 3, pa.large_string()),
                            pa.array(chunk, pa.large_string()), pa.array([None, "x"], pa.large_string())])
    assert clean_strings(arr).to_pylist() == _plain_clean(arr)


@pytest.mark.parametrize("values", [
    ["441565.000000", "-87.703871", "1e5", "-.5", "5.", "+3", "007", "1e309", "-0", "4.9e-324"],
    ["1.5", "abc", " 12", "1_0", "0x10", "inf", "-Infinity", None],
])
def test_to_float_equals_pandas_to_numeric(values: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    expected = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    np.testing.assert_array_equal(to_float(s), expected)


def test_provably_unique_decides_fixed_width_ids_only() -> None:
    ids = pd.Series([f"SC11-{i:07d}" for i in range(5000)], dtype="string")
    assert provably_unique(ids)  # sorted: settled in one ordered pass
    assert provably_unique(ids.sample(frac=1, random_state=3).reset_index(drop=True))  # shuffled: by hashes
    assert not provably_unique(pd.concat([ids, ids.iloc[[17]]], ignore_index=True))
    assert not provably_unique(pd.concat([ids.iloc[:18], ids.iloc[17:]], ignore_index=True))  # sorted, one repeat
    assert provably_unique(pd.Series(["A1", None, "A2", None], dtype="string"))  # missing ids are not duplicates
    assert not provably_unique(pd.Series(["A1", "A22", "A3"], dtype="string"))  # ragged widths: don't know
    assert not provably_unique(pd.Series(["x" * 65, "y" * 65], dtype="string"))  # too wide: don't know


# --- M.O. JSON ----------------------------------------------------------------------------------
def test_mo_json_keeps_rows_whose_values_are_all_missing() -> None:
    # Arrow 26's binary_join_element_wise(null_handling="skip") drops such rows; the fold must not.
    weapon = pa.array(["knife", None, None, 'say "hi"\\', None], pa.large_string())
    target = pa.array([None, None, "garage", "tab\there\nnl", None], pa.large_string())
    out = mo_json([weapon, target], ["weapon", "target"], n=5)
    assert out is not None and len(out) == 5
    expected = [{k: v for k, v in (("weapon", w), ("target", t)) if v is not None}
                for w, t in zip(weapon.to_pylist(), target.to_pylist(), strict=True)]
    assert [json.loads(s) for s in out.to_pylist()] == expected
    assert out.to_pylist()[1] == "{}"


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=12)), st.one_of(st.none(), st.text(max_size=12))),
                     min_size=1, max_size=20))
def test_rows_json_equals_json_dumps(rows: list[tuple[str | None, str | None]]) -> None:
    """The quarantine's raw rows, built column-wise, are byte for byte json.dumps' (or handed back to it)."""
    from crimelens.ingest._fast import rows_json

    cols = {'a "quoted"': pa.array([r[0] for r in rows], type=pa.large_string()),
            "b": pa.chunked_array([pa.array([r[1] for r in rows], type=pa.string())])}
    idx = np.arange(len(rows))[::-1]
    fast = rows_json(cols, idx)
    exact = [json.dumps({k: v[int(i)].as_py() for k, v in cols.items()}, ensure_ascii=False) for i in idx]
    if fast is None:  # a value with a control character json.dumps writes as \uXXXX
        assert any(ch in (r[0] or "") + (r[1] or "") for r in rows for ch in map(chr, [*range(9), 11, 12, *range(14, 32)]))
    else:
        assert fast == exact


def test_mo_json_hands_rare_control_characters_to_the_store() -> None:
    assert mo_json([pa.array(["bell\x07"], pa.large_string())], ["note"], n=1) is None


# --- whole files across CSV blocks ----------------------------------------------------------------
HEADER = ["incident_id", "offense", "offense_raw", "occurred_from", "occurred_to", "reported_at", "x_m", "y_m",
          "lon", "lat", "crs", "premise", "area", "source", "narrative", "weapon", "target"]


def _row(i: int, **over: str) -> str:
    values = {"incident_id": f"T-{i:07d}", "offense": "burglary", "offense_raw": "BURGLARY",
              "occurred_from": "2024-03-05T21:00:00+00:00", "occurred_to": "2024-03-06T07:00:00+00:00",
              "reported_at": "2024-03-06T07:30:00+00:00", "x_m": f"{440000 + i % 5000}.5",
              "y_m": f"{4630000 + i % 3000}.25", "lon": "-87.7", "lat": "41.8", "crs": "EPSG:32616",
              "premise": "residence", "area": "A07", "source": "reported",
              "narrative": "Offender forced the rear door and took a laptop. " * 3,
              "weapon": "" if i % 3 == 0 else "knife", "target": "" if i % 3 == 0 else "house"}
    values.update(over)
    return ",".join(values[h] for h in HEADER) + "\n"


def _big_file(path: Path, *, rows: int, special: dict[int, str]) -> dict[int, int]:
    """A canonical CSV of ``rows`` records (several 4 MiB blocks); returns record index -> first line."""
    lines: dict[int, int] = {}
    line = 2
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(HEADER) + "\n")
        for i in range(rows):
            text = special.get(i, _row(i))
            lines[i] = line
            line += text.count("\n")
            fh.write(text)
    return lines


@pytest.fixture
def block_file(tmp_path: Path) -> tuple[Path, dict[int, int], dict[str, int]]:
    per_row = len(_row(1).encode())
    boundary = 2 * BLOCK_BYTES // per_row  # the record that straddles the second CSV block boundary
    marks = {"bad_at_boundary": boundary - 1, "multiline": boundary + 1, "after_multiline": boundary + 2,
             "dup_of_first": boundary + 500, "bad_last": 3 * boundary}
    special = {
        marks["bad_at_boundary"]: _row(marks["bad_at_boundary"], occurred_from="2024-02-30T10:00:00+00:00"),
        marks["multiline"]: _row(marks["multiline"], narrative='"first line\nsecond line, quoted ""here"""'),
        marks["after_multiline"]: _row(marks["after_multiline"], x_m="not a number"),
        marks["dup_of_first"]: _row(marks["dup_of_first"], incident_id="T-0000000"),
        marks["bad_last"]: _row(marks["bad_last"], source="radio"),
    }
    path = tmp_path / "blocks.csv"
    lines = _big_file(path, rows=marks["bad_last"] + 1, special=special)
    assert path.stat().st_size > 5 * BLOCK_BYTES  # six blocks or so
    return path, lines, marks


def test_rows_across_csv_blocks_keep_their_lines_and_reasons(block_file: tuple[Path, dict[int, int], dict[str, int]]
                                                            ) -> None:
    path, lines, marks = block_file
    r = read_file(path)
    assert r.layout.name == "canonical"
    assert r.n_read == len(lines) and r.n_quarantined == 4 and r.n_landed + r.n_quarantined == r.n_read
    got = dict(zip(r.quarantine["line"].astype(int), r.quarantine["reason"], strict=True))
    assert got[lines[marks["bad_at_boundary"]]].startswith("impossible date: no such calendar date")
    assert got[lines[marks["after_multiline"]]].startswith("not a number")
    assert got[lines[marks["dup_of_first"]]] == "duplicate id (first on line 2)"
    assert got[lines[marks["bad_last"]]].startswith("unmapped source")
    assert lines[marks["after_multiline"]] == lines[marks["multiline"]] + 2  # the quoted newline counts
    frame = r.table.frame.set_index("incident_id")
    assert frame.loc[f"T-{marks['multiline']:07d}", "narrative"] == 'first line\nsecond line, quoted "here"'


@pytest.mark.slow
def test_ingest_across_blocks_stores_aligned_attrs_once(block_file: tuple[Path, dict[int, int], dict[str, int]],
                                                        tmp_path: Path) -> None:
    path, lines, marks = block_file
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, path, actor=ANALYST, dataset="blocks")
        again = ingest_file(ctx, path, actor=ANALYST, dataset="blocks")
        assert again.already_ingested and again.ingest_id == first.ingest_id
        assert ctx.store.count_incidents() == first.n_landed == len(lines) - 4
        rows = ctx.store.query("SELECT incident_id, line, attrs FROM incidents WHERE incident_id IN (?, ?, ?)",
                               ["T-0000000", "T-0000001", f"T-{marks['multiline']:07d}"])
        by_id = {r.incident_id: (int(r.line), json.loads(r.attrs)) for r in rows.itertuples()}
        assert by_id["T-0000000"] == (2, {})  # every M.O. value missing: an empty object, not a shifted one
        assert by_id["T-0000001"] == (3, {"weapon": "knife", "target": "house"})
        assert by_id[f"T-{marks['multiline']:07d}"][0] == lines[marks["multiline"]]
        q = ctx.store.quarantine(ingest_id=first.ingest_id)
        assert sorted(q["line"].astype(int)) == sorted(lines[marks[k]] for k in
                                                       ("bad_at_boundary", "after_multiline", "dup_of_first", "bad_last"))


@pytest.mark.parametrize("body", [b"", b"a,b\n", b"a,b\n1,2", b"a,b\n\n1,\"x\ny\"\n", b"x" * (5 << 20) + b"\n\n"])
def test_file_digest_is_the_hash_and_the_line_count(tmp_path: Path, body: bytes) -> None:
    from crimelens.ingest import file_digest, file_sha256
    from crimelens.ingest._read import count_lines

    path = tmp_path / "f.csv"
    path.write_bytes(body)
    digest = file_digest(path)
    assert digest.sha256 == file_sha256(path)
    assert digest.lines == count_lines(path) == len(body.splitlines())


def test_read_file_with_a_digest_keeps_line_numbers_after_blank_and_quoted_lines(tmp_path: Path) -> None:
    from crimelens.ingest import file_digest

    path = tmp_path / "i.csv"
    path.write_text(",".join(HEADER) + "\n" + _row(1) + "\n" + _row(2, narrative='"a\nb"') + _row(3, source="radio"),
                    encoding="utf-8")
    plain, hinted = read_file(path), read_file(path, digest=file_digest(path))
    for r in (plain, hinted):
        assert (r.n_read, r.n_quarantined) == (3, 1)
        assert r.quarantine.loc[0, "line"] == 6  # header, row 1, blank line, two lines of row 2, then row 3
    assert hinted.sha256 == file_digest(path).sha256


@pytest.mark.parametrize("rare", [False, True])
def test_the_stores_json_fold_equals_the_arrow_fold(tmp_path: Path, rare: bool) -> None:
    from crimelens.storage._incidents import attrs_json

    weapon = ["knife", "", 'say "hi" \\ bye', "tab\there", "it's", "", "x"]
    target = ["", "", "line\nbreak", "cr\rhere", "plain", "garage", "bell\x07" if rare else "y"]
    def field(value: str) -> str:  # CSV quoting
        return '"' + value.replace('"', '""') + '"' if value else ""

    rows = "".join(_row(i, weapon=field(w), target=field(t))
                   for i, (w, t) in enumerate(zip(weapon, target, strict=True)))
    path = tmp_path / "mo.csv"
    path.write_text(",".join(HEADER) + "\n" + rows, encoding="utf-8")
    result = read_file(path)
    arrow_fold = attrs_json(result.validated.frame, result.validated.mo_names)
    assert (arrow_fold is None) == rare
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        ingest_file(ctx, path, actor=ANALYST, dataset="mo")
        stored = ctx.store.query("SELECT attrs FROM incidents ORDER BY line")["attrs"].tolist()
    expected = [{k: v for k, v in (("weapon", w), ("target", t)) if v} for w, t in zip(weapon, target, strict=True)]
    assert [json.loads(a) for a in stored] == expected
    if arrow_fold is not None:
        assert stored == arrow_fold.to_pylist()  # byte for byte


def test_a_stored_file_is_a_no_op_even_when_read_with_a_layout_that_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(",".join(HEADER) + "\n" + _row(1) + _row(2), encoding="utf-8")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, path, actor=ANALYST, dataset="c")
        again = ingest_file(ctx, path, actor=ANALYST, dataset="c", format="sf_code")  # sf_code's columns are absent
        assert again.already_ingested and again.ingest_id == first.ingest_id
        assert ctx.store.count_incidents() == 2 and len(ctx.store.ingests()) == 1
        other = tmp_path / "d.csv"
        other.write_text(path.read_text(encoding="utf-8") + _row(3), encoding="utf-8")
        with pytest.raises(CrimelensError, match="missing column"):  # a new file still gets the error
            ingest_file(ctx, other, actor=ANALYST, dataset="c", format="sf_code")


def test_space_separated_file_reads_as_the_t_separated_one(tmp_path: Path) -> None:
    rows = {i: _row(i, occurred_from=f"2024-03-{1 + i % 28:02d}{{sep}}10:{i % 60:02d}:00-06:00",
                    occurred_to=f"2024-03-{1 + i % 28:02d}{{sep}}23:00:00Z", reported_at="2024-03-30{sep}07:30:00Z")
            for i in range(400)}
    rows[7] = _row(7, occurred_from="2024-02-30{sep}10:00:00+00:00")  # impossible: quarantined in both
    read = {}
    for sep in ("T", " "):
        path = tmp_path / f"sep{ord(sep)}.csv"
        _big_file(path, rows=len(rows), special={i: r.replace("{sep}", sep) for i, r in rows.items()})
        read[sep] = read_file(path)
    t, s = read["T"], read[" "]
    assert t.n_landed == s.n_landed == 399 and t.n_quarantined == s.n_quarantined == 1
    assert s.quarantine["reason"].iloc[0].startswith("impossible date: no such calendar date")
    for col in ("occurred_from", "occurred_to", "reported_at"):
        assert t.table.frame[col].equals(s.table.frame[col]), col


def test_a_stored_file_is_recognised_before_it_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.csv"
    path.write_text(",".join(HEADER) + "\n" + _row(1) + _row(2), encoding="utf-8")
    same_size = tmp_path / "e.csv"  # same byte count, other content: must still be read and stored
    same_size.write_text(",".join(HEADER) + "\n" + _row(4) + _row(5), encoding="utf-8")
    assert same_size.stat().st_size == path.stat().st_size
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, path, actor=ANALYST, dataset="c")
        calls: list[Path] = []

        def counting_read(p: Path, **kw: Any) -> Any:
            calls.append(Path(p))
            return read_file(p, **kw)

        monkeypatch.setattr("crimelens.services.ingest.read_file", counting_read)
        again = ingest_file(ctx, path, actor=ANALYST, dataset="c")
        assert again.already_ingested and again.ingest_id == first.ingest_id and calls == []  # hash only
        other = ingest_file(ctx, same_size, actor=ANALYST, dataset="c")
        assert not other.already_ingested and other.n_landed == 2 and calls == [same_size]
        assert ctx.store.count_incidents() == 4 and len(ctx.store.ingests()) == 2
