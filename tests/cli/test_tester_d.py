"""An IT administrator's deployment test (tester D), through the CLI's one entry point on real stores.

Each of these was a traceback, a wrong exit code or a silent surprise; each is now a catalogued
error (docs/errors.md) or a warning. The documented first-user commands run as written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from crimelens.services import store as svc
from tests.conftest import ROOT, run_cli, shared
from tests.storage.test_tester_d import _fill, small_disk  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("CRIMELENS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    import uvicorn

    def never(*_: object, **__: object) -> None:  # a `serve` that should have refused must not run for ever
        raise AssertionError("the server started; expected a refusal before it")

    monkeypatch.setattr(uvicorn.Server, "run", never)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(capsys, *args)
@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with one administrator (ada) and the ledger entries that made it."""
    path = tmp_path / "city.duckdb"
    with open_context(Settings(db=path, progress=False)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", Role.ADMIN))
    return path


# 2a. a role that is not one -----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["god", "Admin"])
@pytest.mark.parametrize("command", [["ledger", "list"], ["serve", "--port", "8999"]])
def test_an_unknown_role_is_refused_as_a_setting(role: str, command: list[str], db: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRIMELENS_ROLE", role)
    code, _, err = run([*command, "--db", str(db)], capsys)
    assert code == 2, err
    assert f"InvalidParameterError: setting CRIMELENS_ROLE: got '{role}'; expected one of 'analyst'" in err
    assert "Traceback" not in err and "dashboard" not in err


def test_an_unknown_role_is_refused_by_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRIMELENS_ROLE", "god")
    code, _, err = run(["ingest", str(shared("sf_robbery/san_francisco_robbery.csv")), "--db",
                        str(tmp_path / "n.duckdb")], capsys)
    assert code == 2 and "setting CRIMELENS_ROLE: got 'god'" in err, err


# 2b. a full disk (a real one: a 4 MiB tmpfs) --------------------------------------------------------

# small_disk: the storage tests' fixture (tests/storage/test_tester_d.py)


def test_a_full_disk_is_a_store_error_and_nothing_is_lost(small_disk: Path, tmp_path: Path,  # noqa: F811
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sf = shared("sf_robbery/san_francisco_robbery.csv")
    store = small_disk / "s.duckdb"
    big = tmp_path / "big.csv"  # the export, many times over: more than the disk holds
    lines = sf.read_text(encoding="utf-8").splitlines(keepends=True)
    big.write_text(lines[0] + "".join(lines[1:]) * 40, encoding="utf-8")
    code, _, err = run(["ingest", str(sf), "--db", str(store), "--dataset", "a"], capsys)
    assert code == 0, err
    with duckdb.connect(str(store), read_only=True) as con:
        n_before = con.execute("SELECT count(*) FROM incidents").fetchall()[0][0]
    code, _, err = run(["ingest", str(big), "--db", str(store), "--dataset", "b"], capsys)
    if code == 0:
        pytest.skip("the ingest fitted on the small disk")
    assert code == 5, err
    assert "StoreFullError:" in err and "the disk holding the store is full" in err and "Nothing was lost" in err
    assert "Traceback" not in err
    # reads on a full disk (they log their use): the same error, not a TransactionException
    filler = _fill(small_disk)
    for command in (["ledger", "verify"], ["incidents", "summary"]):
        code, _, err = run([*command, "--db", str(store)], capsys)
        assert code == 5 and "StoreFullError:" in err and "Traceback" not in err, (command, err)
    filler.unlink()
    code, out, err = run(["ledger", "verify", "--db", str(store), "--json"], capsys)
    assert code == 0 and json.loads(out)["ok"], err
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM incidents").fetchall()[0][0] == n_before


# 2c. a key folder that cannot be made ---------------------------------------------------------------

def test_a_key_dir_that_cannot_be_made_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    item = tmp_path / "ev1.txt"
    item.write_text("a statement", encoding="utf-8")
    for bad in ("/proc/nope", str(blocker / "keys"), str(blocker)):
        monkeypatch.setenv("CRIMELENS_KEY_DIR", bad)
        code, _, err = run(["evidence", "add", str(item), "--case", "C1", "--source", "test",
                            "--db", str(tmp_path / "e.duckdb")], capsys)
        assert code == 2, err
        assert f"InvalidParameterError: setting CRIMELENS_KEY_DIR: got {bad!r}" in err and "Traceback" not in err


# 1. verify-backup on the CLI --------------------------------------------------------------------------

def test_verify_backup_catches_a_recomputed_manifest(db: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bk"
    code, _, err = run(["store", "backup", str(out), "--as", "ada", "--db", str(db)], capsys)
    assert code == 0, err
    code, head, _ = run(["ledger", "head", "--json", "--db", str(db)], capsys)
    key = json.loads(head)["public_key"]
    code, text, err = run(["store", "verify-backup", str(out), "--public-key", key, "--db", str(db)], capsys)
    assert code == 0 and "backup verifies" in text and "given key" in text and "recorded by entry #" in text, err
    code, text, err = run(["store", "verify-backup", str(out)], capsys)
    assert code == 0 and "origin unproven" in err
    # the tester's repro: delete a row in the copy, CHECKPOINT, recompute the unsigned figures
    with duckdb.connect(str(out / svc.STORE_FILE)) as con:
        con.execute("DELETE FROM users WHERE name = 'ada'")
        con.execute("CHECKPOINT")
        n_users = con.execute("SELECT count(*) FROM users").fetchall()[0][0]
    manifest = json.loads((out / svc.MANIFEST).read_text(encoding="utf-8"))
    data = (out / svc.STORE_FILE).read_bytes()
    manifest["store"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    manifest["store"]["tables"]["users"] = n_users
    (out / svc.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for extra in ([], ["--public-key", key]):
        code, text, err = run(["store", "verify-backup", str(out), *extra], capsys)
        assert code == 4 and "backup does not verify" in text and "signature" in text, (extra, text, err)


# 4. serve's port ---------------------------------------------------------------------------------------

def test_serve_refuses_a_port_out_of_range(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for port in ("99999", "0", "-1"):
        code, out, err = run(["serve", "--port", port, "--db", str(db)], capsys)
        assert code == 2 and "--port" in err and "dashboard" not in out + err, (port, err)


def test_serve_on_a_port_in_use_is_an_input_error_without_a_banner(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(["serve", "--port", str(port), "--db", str(db)], capsys)
    assert code == 2, err  # 3 is for permissions and approvals (docs/errors.md)
    assert f"InvalidParameterError: --port {port}: cannot listen on 127.0.0.1:{port}" in err
    assert "dashboard" not in out + err


def test_serve_prints_its_banner_once_it_listens(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (f"import sys; from crimelens.cli import main; sys.argv = ['crimelens', 'serve', '--port', '{port}', "
            f"'--db', {str(tmp_path / 's.duckdb')!r}]; main()")
    with subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "CRIMELENS_PROGRESS": "false"}) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert line.startswith(f"crimelens dashboard: http://127.0.0.1:{port}/"), line
            with socket.create_connection(("127.0.0.1", port), timeout=10):  # listening when it says so
                pass
        finally:
            proc.terminate()
            proc.wait(timeout=60)


# 5. settings: empty, unknown -----------------------------------------------------------------------------

def test_an_empty_db_setting_is_the_default_not_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRIMELENS_DB", "")
    code, _, err = run(["ledger", "list"], capsys)
    assert code == 1 and "no store at 'crimelens.duckdb'" in err and "Is a directory" not in err, err


def test_a_misspelt_setting_is_named_on_stderr(db: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRIMELENS_MAX_UPLOAD_MIB", "1")
    monkeypatch.setenv("CRIMELENS_MAX_UPLOAD_MB", "1")  # a documented one: no warning
    code, _, err = run(["users", "list", "--as", "ada", "--db", str(db)], capsys)
    assert code == 0, err
    said = [line for line in err.splitlines() if line.startswith("warning: CRIMELENS_")]
    if said:  # once per process: an earlier test may have said it already
        assert said == ["warning: CRIMELENS_MAX_UPLOAD_MIB is not a crimelens setting and is ignored (did you mean "
                        "CRIMELENS_MAX_UPLOAD_MB?); the settings are listed in docs/settings.md"]
    done = subprocess.run([sys.executable, "-c", "import sys; from crimelens.cli import main; sys.argv = "
                           f"['crimelens', 'users', 'list', '--as', 'ada', '--db', {str(db)!r}]; main()"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CRIMELENS_MAX_UPLOAD_MIB": "1", "CRIMELENS_MAX_UPLOAD_MB": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("CRIMELENS_MAX_UPLOAD_MIB is not a crimelens setting") == 1
    assert "CRIMELENS_MAX_UPLOAD_MB is not" not in done.stderr


# 6. the documented first-user commands, as written, on a fresh store ----------------------------------

def _commands(doc: str, pattern: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return [m.group(1).strip() for m in re.finditer(pattern, text)]


def _argv(command: str, db: Path, **names: str) -> list[str]:
    parts = shlex.split(command.split("#")[0])
    assert parts[0] == "crimelens", command
    parts = [str(db) if p == "city.duckdb" else names.get(p, p) for p in parts[1:]]
    return parts if "--db" in parts else [*parts, "--db", str(db)]


def test_the_documented_user_commands_work_as_written_on_a_fresh_store(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    dashboard = _commands("docs/dashboard.md", r"(?m)^(crimelens users add [^\n]*)$")
    api_first = _commands("docs/api.md", r"(?m)^(crimelens users add [^\n]*)$")
    api_token = _commands("docs/api.md", r"TOKEN=\$\((crimelens users add [^|)]*)\|\s*jq -r \.token\)")
    readme = _commands("README.md", r"`(crimelens users add NAME --role analyst[^`]*)`")
    readme_first = _commands("README.md", r"`(crimelens users add ADMIN --role admin[^`]*)`")
    assert len(dashboard) == 2 and len(api_first) == 1 and len(api_token) == 1 and readme and readme_first
    for i, (sequence, names) in enumerate([
            (dashboard, {}),
            (api_first + api_token, {}),
            (readme_first + readme, {"ADMIN": "ada", "NAME": "nia"})]):
        fresh = tmp_path / f"fresh{i}" / "city.duckdb"
        fresh.parent.mkdir()
        for command in sequence:
            code, out, err = run(_argv(command, fresh, **names), capsys)
            assert code == 0, (command, err)
            if "--json" in command:  # `| jq -r .token`
                assert json.loads(out)["token"].startswith("clk_")
            else:
                assert "clk_" in out, (command, out)
