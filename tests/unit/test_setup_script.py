"""containers/setup.sh's mirror parse: the Debian mirror debootstrap uses, read from apt's
sources (one-line deb lines and deb822 .sources files) as machines have them, third-party
sources left out."""

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
SETUP = Path(__file__).resolve().parents[2] / "containers" / "setup.sh"

DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
NODESOURCE = """\
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Architectures: amd64
Signed-By: /usr/share/keyrings/nodesource.gpg
"""
INLINE_KEY = """\
Types: deb
URIs: https://vendor.example/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGRfake
 -----END PGP PUBLIC KEY BLOCK-----
"""
DOCKER = ("deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] "
          "https://download.docker.com/linux/debian bookworm stable\n")
MICROSOFT = ("deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/microsoft-prod.gpg] "
             "https://packages.microsoft.com/debian/12/prod bookworm main\n")
SPACED = ("deb [ arch=amd64 signed-by=/usr/share/keyrings/third.gpg ] "
          "http://third.example/debian bookworm main\n")


def mirror(tmp_path: Path, files: dict, **env) -> subprocess.CompletedProcess:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    return subprocess.run(["bash", str(SETUP), "mirror"], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "APT_SOURCES_DIR": str(apt),
                                           "DEBIAN_MIRROR": "", **env})


@pytest.mark.parametrize("files, expected", [
    # An option list after deb is no mirror: the old parse printed "[arch=amd64".
    ({"sources.list": DOCKER + "deb http://ftp.fr.debian.org/debian bookworm main\n"},
     "http://ftp.fr.debian.org/debian"),
    # A bookworm Docker image with third-party sources listed before Debian's own.
    ({"sources.list.d/a-microsoft.list": MICROSOFT, "sources.list.d/b-vendor.sources": INLINE_KEY,
      "sources.list.d/c-nodesource.sources": NODESOURCE,
      "sources.list.d/debian.sources": DEBIAN_SOURCES},
     "http://deb.debian.org/debian"),
    # Options spread over words; security and deb-src lines; a comment after the line.
    ({"sources.list": SPACED + "deb-src http://src.example/debian bookworm main\n"
                      "deb http://security.debian.org/debian-security bookworm-security main\n"
                      "deb http://mirror.example/debian bookworm main contrib  # ours\n"},
     "http://mirror.example/debian"),
    # A disabled stanza is skipped; one stanza may list several URIs.
    ({"sources.list.d/debian.sources": "Enabled: no\nTypes: deb\nURIs: http://off.example/debian"
                                       "\nSuites: bookworm\nComponents: main\n\n"
                                       "types: deb deb-src\nuris: http://one.example/debian "
                                       "http://two.example/debian\nsuites: bookworm\n"
                                       "components: main\n"},
     "http://one.example/debian"),
    # Another Debian release's mirror serves bookworm too; bookworm's own entry is preferred.
    ({"sources.list": "deb http://trixie.example/debian trixie main\n"},
     "http://trixie.example/debian"),
    ({"sources.list": "deb http://trixie.example/debian trixie main\n"
                      "deb http://bookworm.example/debian bookworm main\n"},
     "http://bookworm.example/debian"),
], ids=["signed-by option", "third-party sources first", "spaced options and security",
        "deb822 enabled and several uris", "another release", "bookworm preferred"])
def test_the_mirror_is_debians_own_entry(tmp_path, files, expected):
    result = mirror(tmp_path, files)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n"


def test_only_third_party_sources_fail_naming_debian_mirror(tmp_path):
    result = mirror(tmp_path, {"sources.list": DOCKER + MICROSOFT,
                               "sources.list.d/nodesource.sources": NODESOURCE})
    assert result.returncode == 1
    assert result.stdout == ""
    assert "set DEBIAN_MIRROR" in result.stderr


def test_debian_mirror_overrides_the_parse(tmp_path):
    result = mirror(tmp_path, {"sources.list": DOCKER},
                    DEBIAN_MIRROR="http://local.example/debian")
    assert (result.returncode, result.stdout) == (0, "http://local.example/debian\n")
