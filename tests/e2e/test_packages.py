"""Debian packages (docs/packages.md): what `make deb` built in TVMRPC_DEB_DIR is installed
into throw-away roots with dpkg --root, the files are checked, the systemd units pass
systemd-analyze verify, the shipped settings pass --check-config, the tvmrpc user exists,
lintian reports no error, and an admin's edit of the conffile survives reinstallation.

Run by the `deb` stage of `make check` after `make deb`."""
import glob
import os
import re
import shutil
import subprocess

import pytest

DEB_DIR = os.environ.get("TVMRPC_DEB_DIR")

# A legitimate skip: only the deb stage of make check builds the packages first.
pytestmark = pytest.mark.skipif(not DEB_DIR, reason="run by the deb stage of make check")

ELF_MACHINE = {"amd64": 62, "arm64": 183, "armhf": 40, "riscv64": 243}
PACKAGES = {  # name -> (unit, conffile)
    "tvmrpc": ("tvmrpc.service", "lab.ini"),
    "tvmrpc-board": ("tvmrpc-board.service", "board.ini"),
}


def debs(arch=None):
    found = sorted(glob.glob(os.path.join(DEB_DIR, "*.deb")))
    return [d for d in found if arch is None or d.endswith("_%s.deb" % arch)]


def deb_of(name, arch="amd64"):
    path = glob.glob(os.path.join(DEB_DIR, "%s_*_%s.deb" % (name, arch)))
    assert len(path) == 1, "make deb built no single %s package for %s" % (name, arch)
    return path[0]


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], check=True, capture_output=True,
                          text=True).stdout.strip()


def dpkg(root, *args):
    return subprocess.run(["dpkg", "--root=%s" % root, "--force-script-chrootless",
                           "--force-not-root", "--force-depends", *args],
                          capture_output=True, text=True)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
        (r / d).mkdir(parents=True)
    (r / "var/lib/dpkg/status").write_text("")
    return r


def test_every_architecture_has_both_packages_and_lintian_finds_no_error():
    arches = sorted({re.search(r"_([a-z0-9]+)\.deb$", d).group(1) for d in debs()})
    assert "amd64" in arches
    for arch in arches:
        for name in PACKAGES:
            deb = deb_of(name, arch)
            assert field(deb, "Architecture") == arch
            listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True,
                                     capture_output=True).stdout
            member = subprocess.run(["tar", "-xOf", "-", "./usr/bin/tvmrpc-console"],
                                    input=listing, check=True, capture_output=True).stdout
            assert member[:4] == b"\x7fELF"
            assert member[18] | member[19] << 8 == ELF_MACHINE[arch], (name, arch)
    out = subprocess.run(["lintian", "--fail-on", "error", *debs()], capture_output=True,
                         text=True)
    errors = [line for line in out.stdout.splitlines() if line.startswith("E:")]
    assert out.returncode == 0 and not errors, out.stdout + out.stderr


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_install_into_a_throwaway_root(root, name):
    unit, conf = PACKAGES[name]
    deb = deb_of(name)
    res = dpkg(root, "-i", deb)
    assert res.returncode == 0, res.stdout + res.stderr
    for path in ("usr/bin/tvmrpc-console", "usr/share/man/man1/tvmrpc-console.1.gz",
                 "usr/share/man/man5/tvmrpc.ini.5.gz", "lib/systemd/system/" + unit,
                 "usr/lib/sysusers.d/tvmrpc.conf", "etc/tvmrpc/" + conf,
                 "usr/share/doc/%s/copyright" % name,
                 "usr/share/doc/%s/changelog.Debian.gz" % name,
                 "usr/share/doc/%s/examples/board.ini" % name,
                 "usr/share/doc/%s/examples/lab.ini" % name):
        assert (root / path).is_file(), path
    assert os.access(root / "usr/bin/tvmrpc-console", os.X_OK)
    # The postinst made the system user in that root, not on this machine.
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^tvmrpc:x:\d+:\d+:", passwd, re.M), passwd
    status = (root / "var/lib/dpkg/status").read_text()
    assert re.search(r"^ /etc/tvmrpc/%s [0-9a-f]{32}$" % re.escape(conf), status, re.M), status
    # The shipped settings pass the packaged binary's own check.
    res = subprocess.run([str(root / "usr/bin/tvmrpc-console"), "--check-config",
                          str(root / "etc/tvmrpc" / conf)], capture_output=True, text=True)
    assert res.returncode == 0 and "OK" in res.stdout + res.stderr, res.stdout + res.stderr
    # systemd-analyze verify, with this machine's system units beside it for the targets.
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True,
                    dirs_exist_ok=True)
    (root / "bin").mkdir(exist_ok=True)
    shutil.copy("/bin/kill", root / "bin/kill")
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=%s" % root, unit],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    unit_text = (root / "lib/systemd/system" / unit).read_text()
    assert "User=tvmrpc" in unit_text
    assert "--config /etc/tvmrpc/%s" % conf in unit_text


def test_board_conffile_survives_reinstallation(root):
    deb = deb_of("tvmrpc-board")
    assert dpkg(root, "-i", deb).returncode == 0
    conf = root / "etc/tvmrpc/board.ini"
    edited = conf.read_text().replace("key = rasp4b", "key = jetson-7")
    assert edited != conf.read_text()
    conf.write_text(edited)
    res = dpkg(root, "--force-confold", "-i", deb)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "key = jetson-7" in conf.read_text()
    # Removing the package keeps the admin's settings; purging removes them.
    assert dpkg(root, "-r", "tvmrpc-board").returncode == 0
    assert conf.is_file() and not (root / "usr/bin/tvmrpc-console").exists()
    assert dpkg(root, "-P", "tvmrpc-board").returncode == 0
    assert not conf.exists()


def test_host_and_board_packages_conflict(root):
    assert dpkg(root, "-i", deb_of("tvmrpc")).returncode == 0
    res = dpkg(root, "-i", deb_of("tvmrpc-board"))
    assert res.returncode != 0 and "conflict" in (res.stdout + res.stderr).lower()
