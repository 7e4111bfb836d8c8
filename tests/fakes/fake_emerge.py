"""A fake ``emerge`` for drone tests: honours the real command line, writes what real emerge writes.

It accepts only the options a swarm build passes (the mandatory ones must all be there), exactly
one ``=category/package-version::repo`` atom, and the environment the drone must set; anything
else is refused the way emerge refuses it. Output lines follow real emerge 3.0 / ebuild.sh
output (phase banners, ``eerror`` die blocks, wget/fetch errors, make/gcc errors); on success it
writes a real GPKG (``<PKGDIR>/<cat>/<pn>/<pf>-<BUILD_ID>.gpkg.tar``, binpkg-multi-instance) whose
SLOT comes from the repository's md5-cache, as portage reads it.

What each build does is chosen by ``FAKE_EMERGE_SCENARIOS`` (``cat/pkg=scenario,...``; ``*`` for
every package) — success, compile, configure, fetch, disk_full, oom, masked, missing_dep, binhost, hang,
hang_once (state in ``FAKE_EMERGE_STATE``), silent_hang, no_binpkg, segv, chatty (``FAKE_EMERGE_CHATTY_MB``
megabytes of compiler output over ``FAKE_EMERGE_CHATTY_SECONDS``, then success) — and ``FAKE_EMERGE_SECONDS`` (how long the compile phase takes).

Its lines are real portage 3.0.83's (``tests/realbuild/fixtures``: captured from real emerge builds of the
``swarm-test`` overlay): no binhost lines before "Calculating dependencies ... done!", ">>> Verifying ebuild
manifests", quoted distfile names, gcc 12's ‘’ quotes with its code and caret lines, ">>> Failed to emerge CPV"
followed by the whole die block again after "Messages for package", a fetch failure decided by "Couldn't
download", a binary dependency fetched in the background and lost (its 404 only in emerge-fetch.log).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

MANDATORY = ("--oneshot", "--usepkg=y", "--getbinpkg=y", "--binpkg-respect-use=y", "--buildpkg=y")
OPTIONAL = re.compile(r"--(ask=n|jobs=\d+|keep-going=n|color=n|nospinner|quiet-build=n|update|deep|newuse)")
ATOM = re.compile(r"=(?P<cat>[A-Za-z0-9_][A-Za-z0-9+_.-]*)/(?P<pf>(?P<pn>[A-Za-z0-9_][A-Za-z0-9+_-]*?)-\d[^:/\s]*)::(?P<repo>[A-Za-z0-9_-]+)")
TMP = "/var/tmp/portage"


def fail(message: str, code: int = 1) -> None:
    print(message, flush=True)
    sys.exit(code)


def parse(argv: list[str]) -> re.Match[str]:
    atoms = [a for a in argv if not a.startswith("-")]
    options = [a for a in argv if a.startswith("-")]
    if len(atoms) != 1:
        fail(f"emerge: expected exactly one package atom, got {atoms}", 2)
    atom = ATOM.fullmatch(atoms[0])
    if atom is None:
        fail(f'!!! \'{atoms[0]}\' is not a valid package atom.\n!!! Please check ebuild(5) for full details.', 1)
    assert atom is not None
    exclude = f"--usepkg-exclude={atom['cat']}/{atom['pn']}"
    reinstall = f"--reinstall-atoms={atom['cat']}/{atom['pn']}"
    for option in options:
        if option not in MANDATORY and option not in (exclude, reinstall) and not OPTIONAL.fullmatch(option):
            fail(f"emerge: error: unrecognized arguments: {option}", 2)
    missing = [o for o in (*MANDATORY, exclude) if o not in options]
    if missing:
        fail(f"fake emerge: the swarm build must pass {' '.join(missing)}", 2)
    return atom


def check_environment() -> Path:
    env = os.environ
    problems = []
    if env.get("BINPKG_FORMAT") != "gpkg":
        problems.append(f"BINPKG_FORMAT={env.get('BINPKG_FORMAT', '')!r}, the swarm publishes gpkg")
    if "buildpkg" not in env.get("FEATURES", "").split():
        problems.append("FEATURES lacks buildpkg")
    if not env.get("PORTAGE_BINHOST"):
        problems.append("PORTAGE_BINHOST is not set")
    if not re.fullmatch(r"-j\d+ -l\d+", env.get("MAKEOPTS", "")):
        problems.append(f"MAKEOPTS={env.get('MAKEOPTS', '')!r}")
    pkgdir = Path(env.get("PKGDIR", ""))
    if not pkgdir.is_absolute():
        problems.append("PKGDIR is not an absolute path")
    if problems:
        fail("\n".join(f"!!! fake emerge: {p}" for p in problems), 1)
    return pkgdir


def scenario_for(cat: str, pn: str) -> str:
    table = dict(item.split("=", 1) for item in os.environ.get("FAKE_EMERGE_SCENARIOS", "").split(",") if "=" in item)
    return table.get(f"{cat}/{pn}", table.get("*", "success"))


def slot_of(cat: str, pf: str, repo: str) -> str:
    """SLOT from ``<repo>/metadata/md5-cache/<cat>/<pf>`` of the repositories in FAKE_EMERGE_REPOS, as portage reads it."""
    for root in filter(None, os.environ.get("FAKE_EMERGE_REPOS", "").split(":")):
        name_file = Path(root) / "profiles" / "repo_name"
        if name_file.is_file() and name_file.read_text().strip() != repo:
            continue
        entry = Path(root) / "metadata" / "md5-cache" / cat / pf
        if entry.is_file():
            for line in entry.read_text().splitlines():
                if line.startswith("SLOT="):
                    return line[5:]
    return "0"


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def header(where: str) -> None:
    """What real emerge prints before the target's phases (no binhost lines: it fetches the index quietly)."""
    say("Calculating dependencies ... done!", "Dependency resolution took 0.25 s (backtrack: 0/20).", "", "",
        ">>> Verifying ebuild manifests", "", f">>> Emerging (1 of 1) {where}")


def die_block(cat: str, pf: str, repo: str, phase: str, why: str, blank: bool = True) -> list[str]:
    build = f"{TMP}/{cat}/{pf}"
    return [f" * ERROR: {cat}/{pf}::{repo} failed ({phase} phase):", f" *   {why}", *([" * "] if blank else []),
            f" * If you need support, post the output of `emerge --info '={cat}/{pf}::{repo}'`,",
            f" * the complete build log and the output of `emerge -pqv '={cat}/{pf}::{repo}'`.",
            f" * The complete build log is located at '{build}/temp/build.log'.",
            f" * The ebuild environment file is located at '{build}/temp/environment'.",
            f" * Working directory: '{build}/work/{pf}'", f" * S: '{build}/work/{pf}'"]


def die(cat: str, pf: str, repo: str, phase: str, why: str) -> None:
    """ebuild.sh's die block, then emerge's summary, which repeats it after "Messages for package" (portage 3.0.83)."""
    say(*die_block(cat, pf, repo, phase, why), "", f">>> Failed to emerge {cat}/{pf}", "", f" * Messages for package {cat}/{pf}:", "",
        *die_block(cat, pf, repo, phase, why, blank=False))
    sys.exit(1)


def unpack_and_configure(cat: str, pf: str) -> None:
    work = f"{TMP}/{cat}/{pf}/work"
    say(f" * {pf}.tar.gz BLAKE2B SHA512 size ;-) ...                           [ ok ]", ">>> Unpacking source...",
        f">>> Unpacking '{pf}.tar.gz' to {work}", f">>> Source unpacked in {work}", f">>> Preparing source in {work}/{pf} ...",
        ">>> Source prepared.", f">>> Configuring source in {work}/{pf} ...",
        "./configure --prefix=/usr --build=x86_64-pc-linux-gnu --host=x86_64-pc-linux-gnu --mandir=/usr/share/man",
        "checking for a BSD-compatible install... /usr/bin/install -c", "checking whether build environment is sane... yes",
        "config.status: creating Makefile", ">>> Source configured.", f">>> Compiling source in {work}/{pf} ...",
        f"make {os.environ['MAKEOPTS']}")


def compile_for(seconds: float) -> None:
    """Like make: a child process (the "compiler") per step, in emerge's process group."""
    end = time.monotonic() + seconds
    step = 0
    while time.monotonic() < end:
        step += 1
        say(f"x86_64-pc-linux-gnu-gcc -DHAVE_CONFIG_H -I. -O2 -pipe -c -o src/part{step}.o src/part{step}.c")
        subprocess.run(["sleep", f"{min(0.2, max(0.01, end - time.monotonic())):.3f}"], check=False)


def chatter(megabytes: float, seconds: float) -> None:
    """``megabytes`` of compiler output spread over ``seconds`` (a build with -Wall on a large tree, or make V=1)."""
    line = ("x86_64-pc-linux-gnu-g++ -DHAVE_CONFIG_H -I. -I../include -O2 -pipe -Wall -Wextra -c -o src/module.o "
            "src/module.cc -MT src/module.o -MD -MP -MF src/.deps/module.Tpo\n")
    block = line * (65536 // len(line))
    blocks = int(megabytes * 2**20 // len(block)) + 1
    start = time.monotonic()
    for n in range(blocks):
        sys.stdout.write(block)
        time.sleep(max(0.0, start + seconds * (n + 1) / blocks - time.monotonic()))
    sys.stdout.flush()


def write_binpkg(pkgdir: Path, cat: str, pn: str, pf: str, repo: str) -> Path:
    from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg

    folder = pkgdir / cat / pn
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(re.escape(pf) + r"-(\d+)\.gpkg\.tar", p.name))]
    meta = BinpkgMetadata(cpv=f"{cat}/{pf}", slot=slot_of(cat, pf, repo), repo=repo, arch=os.environ.get("FAKE_EMERGE_ARCH", "amd64"),
                          use=tuple(os.environ.get("FAKE_EMERGE_USE", "").split()), chost="x86_64-pc-linux-gnu",
                          build_time=int(time.time()), build_id=max(taken, default=0) + 1)
    return write_gpkg(folder, meta, {f"usr/bin/{pn}": b"#!/bin/sh\necho built by fake emerge\n"}, modes={f"usr/bin/{pn}": 0o755})


def install(cat: str, pf: str, where: str) -> None:
    image = f"{TMP}/{cat}/{pf}/image"
    say(">>> Source compiled.", f">>> Test phase [not enabled]: {cat}/{pf}", "", f">>> Install {cat}/{pf} into {image}",
        f"make -j1 DESTDIR={image} install", f">>> Completed installing {cat}/{pf} into {image}", "",
        " * Final size of build directory: 1812 KiB (1.7 MiB)", " * Final size of installed tree:    88 KiB", "",
        ">>> Creating binpkg", ">>> Done.", "", f">>> Installing (1 of 1) {where}", "", f">>> Completed (1 of 1) {where}")


def refuse(scenario: str, cat: str, pf: str, repo: str) -> None:
    """Emerge stops before building: the target is masked, a dependency nobody has, or a dependency's binary package
    the binhost lists could not be fetched (portage fetches it in the background: the 404 is only in emerge-fetch.log)."""
    if scenario == "masked":
        say("Calculating dependencies ... done!", "Dependency resolution took 0.08 s (backtrack: 0/20).", "", "",
            f'!!! All ebuilds that could satisfy "={cat}/{pf}::{repo}" have been masked.',
            "!!! One of the following masked packages is required to complete your request:",
            f"- {cat}/{pf}::{repo} (masked by: ~amd64 keyword)", "", "For more information, see the MASKED PACKAGES section in the emerge",
            "man page or refer to the Gentoo Handbook.")
        sys.exit(1)
    if scenario == "missing_dep":
        say("Calculating dependencies ... done!", "Dependency resolution took 0.19 s (backtrack: 1/20).", "", "",
            'emerge: there are no ebuilds to satisfy "dev-libs/libfoo".',
            f'(dependency required by "{cat}/{pf}::{repo}" [ebuild])', f'(dependency required by "={cat}/{pf}::{repo}" [argument])')
        sys.exit(1)
    if scenario == "binhost":
        pkgdir = os.environ["PKGDIR"]
        say("Calculating dependencies ... done!", "Dependency resolution took 0.39 s (backtrack: 0/20).", "", "",
            ">>> Verifying ebuild manifests", "", ">>> Running pre-merge checks for dev-libs/libfoo-1.2",
            f" * Fetching in the background: {pkgdir}/dev-libs/libfoo/libfoo-1.2-1.gpkg.tar.partial",
            " * To view fetch progress, run in another terminal:", " * tail -f /var/log/emerge-fetch.log",
            " * Fetch of dev-libs/libfoo-1.2 failed, see /var/log/emerge-fetch.log", "", ">>> Failed to emerge dev-libs/libfoo-1.2")
        sys.exit(1)


def fetch_failure(cat: str, pf: str) -> None:
    """A distfile no mirror has: wget's lines, then the deciding "Couldn't download" (no "Fetch failed for" line)."""
    say(f">>> Downloading 'https://distfiles.gentoo.org/distfiles/3c/{pf}.tar.gz'",
        f"--2026-11-27 04:12:33--  https://distfiles.gentoo.org/distfiles/3c/{pf}.tar.gz",
        "Resolving distfiles.gentoo.org (distfiles.gentoo.org)... failed: Temporary failure in name resolution.",
        "wget: unable to resolve host address \u2018distfiles.gentoo.org\u2019", f"!!! Couldn't download '{pf}.tar.gz'. Aborting.",
        "", f">>> Failed to emerge {cat}/{pf}, Log file:", "", f">>>  '{TMP}/{cat}/{pf}/temp/build.log'")
    sys.exit(1)


def compile_failure(scenario: str, cat: str, pn: str, pf: str, repo: str) -> None:
    """What gcc 12 and make print when the code is wrong, the disk is full, or the OOM killer took the compiler."""
    for kind, lines in (("compile", (f"{pn}.c: In function \u2018main\u2019:",
                                     f"{pn}.c:13:17: error: \u2018struct options\u2019 has no member named \u2018verbose\u2019",
                                     "   13 |         if (opts.verbose)", "      |                 ^",
                                     f"make: *** [Makefile:8: {pn}] Error 1")),
                        ("disk_full", (f"{pn}.c:1: fatal error: error writing to {TMP}/{cat}/{pf}/temp/ccX1.s: "
                                       "No space left on device", "compilation terminated.", f"make: *** [Makefile:8: {pn}] Error 1")),
                        ("oom", ("x86_64-pc-linux-gnu-g++: fatal error: Killed signal terminated program cc1plus",
                                 "compilation terminated.", f"make: *** [Makefile:8: {pn}] Error 1"))):
        if scenario == kind:
            say(*lines)
            die(cat, pf, repo, "compile", "emake failed")


def scenario_of(cat: str, pn: str) -> str:
    scenario = scenario_for(cat, pn)
    if scenario == "hang_once":  # hangs the first time (until killed), builds on every later run
        marker = Path(os.environ["FAKE_EMERGE_STATE"]) / f"{cat}_{pn}.hung"
        scenario = "success" if marker.exists() else "hang"
        marker.touch()
    return scenario


def main() -> None:
    atom = parse(sys.argv[1:])
    pkgdir = check_environment()
    cat, pn, pf, repo = atom["cat"], atom["pn"], atom["pf"], atom["repo"]
    where = f"{cat}/{pf}::{repo}"
    scenario = scenario_of(cat, pn)
    refuse(scenario, cat, pf, repo)
    header(where)
    if scenario == "chatty":
        chatter(float(os.environ.get("FAKE_EMERGE_CHATTY_MB", "8")), float(os.environ.get("FAKE_EMERGE_CHATTY_SECONDS", "5")))
    if scenario == "fetch":
        fetch_failure(cat, pf)
    unpack_and_configure(cat, pf)
    if scenario == "configure":
        say("checking for libfoo >= 1.2... no", "configure: error: Package requirements (libfoo >= 1.2) were not met")
        die(cat, pf, repo, "configure", "econf failed")
    if scenario == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # like a build that ignores SIGTERM: only SIGKILL ends it
        compile_for(3600.0)
    if scenario == "silent_hang":  # a long compile that prints nothing: it outlives a dead reader of its output
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.run(["sleep", "3600"], check=False)
    compile_for(float(os.environ.get("FAKE_EMERGE_SECONDS", "0.2")))
    if scenario == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    compile_failure(scenario, cat, pn, pf, repo)
    if scenario != "no_binpkg":
        write_binpkg(pkgdir, cat, pn, pf, repo)
    install(cat, pf, where)


if __name__ == "__main__":
    main()
