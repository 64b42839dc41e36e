"""Safe local names (damkit/library.py): traversal, reserved names, length, collisions, NFC."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from damkit.library import MAX_NAME_BYTES, connection_dir, inside, library_name, safe_filename, short_id
from damkit.sandbox.catalog import HOSTILE_NAMES


@pytest.mark.parametrize(("raw", "safe"), [
    ("../../../.bashrc", "bashrc"),
    ("/etc/cron.d/x", "x"),
    ("..\\..\\win.ini", "win.ini"),
    ("a\x00b.jpg", "a_b.jpg"),
    ("CON.jpg", "_CON.jpg"),
    ("con", "_con"),
    ("LPT9.txt", "_LPT9.txt"),
    ("COM¹.png", "_COM¹.png"),
    ("\u202egpj.exe", "_gpj.exe"),
    ("trailing dot.", "trailing dot"),
    (" leading space.png", "leading space.png"),
    ("semi;colon:star*?.png", "semi;colon_star__.png"),
    ("", "asset"),
    ("..", "asset"),
    (".hidden", "hidden"),
    ("new\nline.txt", "new_line.txt"),
])
def test_safe_filename(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe


def test_names_are_nfc_and_bounded() -> None:
    decomposed = unicodedata.normalize("NFD", "résumé été.pdf")
    assert safe_filename(decomposed) == unicodedata.normalize("NFC", "résumé été.pdf")
    long_name = "é" * 300 + ".jpeg"
    name = library_name(long_name, "id-1")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.endswith(".jpeg")
    name.encode("utf-8").decode("utf-8")  # cut on a character boundary


def test_library_names_unique_stable_and_safe() -> None:
    names = [library_name(n, f"asset:{i}", "png") for i, n in enumerate(HOSTILE_NAMES)]
    assert len({n.casefold() for n in names}) == len(names)  # "report.pdf" twice, "Report.PDF"
    assert names == [library_name(n, f"asset:{i}", "png") for i, n in enumerate(HOSTILE_NAMES)]
    for n in names:
        assert "/" not in n and "\\" not in n and n not in (".", "..") and n.strip() == n
        assert len(n.encode("utf-8")) <= MAX_NAME_BYTES
        assert n.split(".")[0].upper() not in ("CON", "NUL", "COM1")
    assert library_name("CON", "x", "png").endswith(".png")  # extension from the type
    assert short_id("a") != short_id("b") and short_id("a") == short_id("a")


def test_inside_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "lib", "a/b.png") == tmp_path / "lib" / "a" / "b.png"
    for bad in ("../x", "/etc/passwd", "a/../../x", "", "link/x"):
        with pytest.raises(ValueError):
            inside(tmp_path / "lib", bad)
    with pytest.raises(ValueError):
        connection_dir(tmp_path, "..")


def test_stores_refuse_paths_outside_the_library(tmp_path: Path) -> None:
    from damkit.storage import split_rel
    from damkit.storage.local import LocalStore
    from damkit.storage.objects import ObjectStore

    local = LocalStore(tmp_path)
    bucket = ObjectStore(tmp_path / "state", "bucket", "team/lib")  # no request is made here
    assert split_rel("DAM Import/acme/a_x.png") == ("acme", "a_x.png")
    assert bucket.key("DAM Import/acme/a_x.png") == "bucket/team/lib/acme/a_x.png"
    (tmp_path / "DAM Import").mkdir()
    (tmp_path / "DAM Import" / "out").symlink_to(tmp_path.parent)
    for bad in ("DAM Import/../x", "DAM Import/acme/../../x", "DAM Import/acme/a/b", "/etc/passwd",
                "other/acme/a.png", "DAM Import/acme", "DAM Import/../acme/a.png", ""):
        for store in (local, bucket):
            with pytest.raises(ValueError):
                store.check(bad)
    with pytest.raises(ValueError):
        local.check("DAM Import/out/x.png")  # a symlink out of the library
    assert bucket.size("DAM Import/../x") is None
