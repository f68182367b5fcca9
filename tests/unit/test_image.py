"""The base image's recipe without building it (harness/image.py; the build and boot are
tests/lab/test_image_boot.py): the mirror comes from this machine's apt sources in either
format, the cache lives where the environment says, the recipe hash names the image."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import image

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.invalid/debian-security/
Suites: bookworm-security
Components: main
"""
ONE = "Types: deb\nURIs: http://m.invalid/d\nSuites: bookworm\nComponents: main\n"
MAIN = "deb http://mirror.invalid/debian bookworm main"
UPDATES = "deb http://mirror.invalid/debian bookworm-updates main"
SECURITY = "deb http://mirror.invalid/debian-security bookworm-security main"


@pytest.mark.parametrize(
    ("name", "text", "expect"),
    [
        ("debian.sources", DEB822, [MAIN, UPDATES, SECURITY]),
        ("sources.list", "deb http://mirror.invalid/debian bookworm main\n", [MAIN]),
        (
            "sources.list",
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian/ bookworm main non-free\n",
            [MAIN],
        ),
        ("sources.list", "# deb http://mirror.invalid/debian bookworm main\n", []),
        ("sources.list", "deb-src http://mirror.invalid/debian bookworm main\n", []),
        ("sources.list", "deb http://mirror.invalid/debian trixie main\n", []),  # another release
        ("sources.list", "deb http://mirror.invalid/debian bookworm contrib\n", []),  # no main
        ("x.sources", ONE.replace("deb", "deb-src", 1), []),
        ("x.sources", "Enabled: no\n" + ONE, []),
        ("x.sources", ONE, ["deb http://m.invalid/d bookworm main"]),
        (
            "x.sources",
            "Types: deb\nURIs: http://a.invalid/d\n http://b.invalid/d\nSuites: bookworm\nComponents: main\n",
            ["deb http://a.invalid/d bookworm main", "deb http://b.invalid/d bookworm main"],
        ),
    ],
    ids=[
        "deb822",
        "one-line",
        "options-and-slash",
        "commented",
        "deb-src",
        "other-release",
        "no-main",
        "deb822-src",
        "deb822-disabled",
        "deb822-enabled",
        "deb822-continued",
    ],
)
def test_mirror_from_apt_sources(tmp_path: Path, name: str, text: str, expect: list[str]) -> None:
    f = tmp_path / name
    f.write_text(text)
    assert image.apt_sources([f]) == expect


def test_sources_in_order_without_duplicates_and_missing_files(tmp_path: Path) -> None:
    a = tmp_path / "sources.list"
    a.write_text(MAIN + "\n")
    b = tmp_path / "debian.sources"
    b.write_text(DEB822)
    assert image.apt_sources([tmp_path / "absent.list", a, b]) == [MAIN, UPDATES, SECURITY]


def test_cache_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNIFORM_IMAGE_CACHE", str(tmp_path / "c"))
    assert image.cache_dir() == tmp_path / "c"
    assert image.image_path() == tmp_path / "c" / f"debian-bookworm-uniform-{image.recipe_key()}.qcow2"
    monkeypatch.delenv("UNIFORM_IMAGE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert image.cache_dir() == tmp_path / "home" / ".cache" / "uniform"


def test_a_cached_image_is_reused_without_building(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNIFORM_IMAGE_CACHE", str(tmp_path))
    image.image_path().write_bytes(b"cached")

    def no_build(*_: object) -> None:
        raise AssertionError("rebuilt a cached image")

    monkeypatch.setattr(image, "_build", no_build)
    assert image.ensure_base_image(progress=False) == image.image_path()


def test_the_recipe_key_follows_the_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = image.recipe_key()
    assert len(key) == 16 and key == image.recipe_key()
    copy = tmp_path / "image.py"
    copy.write_text(Path(image.__file__).read_text() + "\n# a changed recipe\n")
    monkeypatch.setattr(image, "__file__", str(copy))
    assert image.recipe_key() != key


def test_a_failed_build_leaves_no_image_and_no_work_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UNIFORM_IMAGE_CACHE", str(tmp_path))

    def failing(work: Path, out: Path, log: Path) -> None:
        out.write_bytes(b"half")
        raise RuntimeError("mmdebstrap failed")

    monkeypatch.setattr(image, "_build", failing)
    with pytest.raises(RuntimeError, match="mmdebstrap failed"):
        image.ensure_base_image(progress=False)
    assert not image.image_path().exists()
    assert not list(tmp_path.glob(".build-*"))
