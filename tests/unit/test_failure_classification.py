"""classify_failure on real emerge / portage / gcc / make / wget output: whose fault was it?"""

from __future__ import annotations

import time

import pytest

from swarm_celery.domain.failures import Classification, FailureKind, classify_failure

K = FailureKind

# (id, log text, exit code, kind, infrastructure, phase)
LINES: list[tuple[str, str, int | None, FailureKind, bool, str | None]] = [
    ("compile-phase", " * ERROR: dev-libs/foo-1.2::gentoo failed (compile phase):", 1, K.COMPILE, False, "compile"),
    ("test-phase-no-star", "ERROR: dev-libs/foo-1.2::gentoo failed (test phase):", 1, K.TEST, False, "test"),
    ("configure-phase", " * ERROR: sys-apps/foo-1::gentoo failed (configure phase):", 1, K.CONFIGURE, False, "configure"),
    ("install-phase", " * ERROR: app-misc/foo-1.0-r2::gentoo failed (install phase):", 1, K.INSTALL, False, "install"),
    ("preinst-phase", " * ERROR: sys-apps/foo-1::gentoo failed (preinst phase):", 1, K.INSTALL, False, "preinst"),
    ("postinst-phase", " * ERROR: sys-apps/foo-1::gentoo failed (postinst phase):", 1, K.INSTALL, False, "postinst"),
    ("unpack-phase", " * ERROR: dev-lang/rust-1.83.0::gentoo failed (unpack phase):", 1, K.PHASE, False, "unpack"),
    ("prepare-phase", " * ERROR: x11-libs/foo-1::gentoo failed (prepare phase):", 1, K.PHASE, False, "prepare"),
    ("pretend-phase", " * ERROR: sys-kernel/foo-1::gentoo failed (pretend phase):", 1, K.PHASE, False, "pretend"),
    ("setup-phase", " * ERROR: net-misc/foo-1::gentoo failed (setup phase):", 1, K.PHASE, False, "setup"),
    ("die-outside-phase", " * ERROR: dev-libs/foo-1.2::gentoo failed:", 1, K.PHASE, False, None),
    ("emake-failed", " *   emake failed", 1, K.COMPILE, False, None),
    ("make-error", "make[2]: *** [Makefile:123: foo.o] Error 1", 2, K.COMPILE, False, None),
    ("gcc-error", "frob.c:42:9: error: implicit declaration of function 'strlcpy' [-Wimplicit-function-declaration]", 1, K.COMPILE,
     False, None),
    ("ninja-stopped", "ninja: build stopped: subcommand failed.", 1, K.COMPILE, False, None),
    ("configure-error", "configure: error: C compiler cannot create executables", 1, K.CONFIGURE, False, None),
    ("cmake-error", "CMake Error at CMakeLists.txt:12 (find_package):", 1, K.CONFIGURE, False, None),
    ("couldnt-download", "!!! Couldn't download 'foo-1.2.tar.gz'. Aborting.", 1, K.FETCH, True, None),
    ("fetch-failed-continuing", "!!! Fetch failed for dev-libs/foo-1.2, continuing...", 1, K.FETCH, True, None),
    ("fetched-file-verify", "!!! Fetched file: foo-1.2.tar.gz VERIFY FAILED!", 1, K.FETCH, True, None),
    ("wget-dns", "Resolving distfiles.gentoo.org (distfiles.gentoo.org)... failed: Temporary failure in name resolution.", 4, K.FETCH,
     True, None),
    ("wget-refused", "Connecting to example.org (example.org)|93.184.215.14|:443... failed: Connection refused.", 4, K.FETCH, True, None),
    ("wget-ssl", "Unable to establish SSL connection.", 4, K.FETCH, True, None),
    ("curl-resolve", "curl: (6) Could not resolve host: distfiles.gentoo.org", 6, K.FETCH, True, None),
    ("cc1plus-killed", "g++: fatal error: Killed signal terminated program cc1plus", 1, K.OOM, True, None),
    ("ice-killed", "foo.cpp:88:1: internal compiler error: Killed (program cc1plus)", 1, K.OOM, True, None),
    ("vm-exhausted", "virtual memory exhausted: Cannot allocate memory", 1, K.OOM, True, None),
    ("kernel-oom", "Out of memory: Killed process 1234 (cc1plus) total-vm:3456789kB, anon-rss:3012345kB, file-rss:0kB", None, K.OOM,
     True, None),
    ("gcc-out-of-memory", "cc1plus: out of memory allocating 65536 bytes after a total of 1234567 bytes", 1, K.OOM, True, None),
    ("llvm-oom", "LLVM ERROR: out of memory", 1, K.OOM, True, None),
    ("ld-killed", "collect2: fatal error: ld terminated with signal 9 [Killed]", 1, K.OOM, True, None),
    ("ld-enospc", "/usr/lib/gcc/x86_64-pc-linux-gnu/14/../../../../x86_64-pc-linux-gnu/bin/ld: final link failed: No space left on device",
     1, K.DISK_FULL, True, None),
    ("tar-enospc", "tar: foo-1.2/data/big.bin: Cannot write: No space left on device", 1, K.DISK_FULL, True, None),
    ("python-errno-28", "OSError: [Errno 28] No space left on device: '/var/tmp/portage/dev-libs/foo-1.2/image'", 1, K.DISK_FULL, True,
     None),
    ("distfiles-space", "!!! Insufficient space to store foo-1.2.tar.gz in /var/cache/distfiles", 1, K.DISK_FULL, True, None),
    ("fetching-binary", "!!! Fetching Binary failed for 'dev-libs/bar-1'", 1, K.BINHOST, True, None),
    ("nonexistent-binary", "!!! Tried to use non-existent binary for 'dev-libs/bar-1'", 1, K.BINHOST, True, None),
    ("digest-bare", "!!! Digest verification failed:", 1, K.BINHOST, True, None),
    ("no-binary-packages", 'emerge: there are no binary packages to satisfy "dev-libs/bar".', 1, K.BINHOST, True, None),
    ("timeout-marker", "build-swarm: build timed out after 7200 s", 143, K.TIMEOUT, True, None),
    ("drone-short-of-disk", "build-swarm: not enough free disk: 812 MiB free under /var/tmp/portage, this drone needs 4096 MiB", None,
     K.DISK_FULL, True, None),
    ("no-binpkg-written", "build-swarm: no binary package: emerge exited 0 but wrote no dev-libs/foo-1.2 GPKG under /var/cache/binpkgs",
     0, K.ARTIFACT, True, None),
    ("phase-killed", " * The ebuild phase 'compile' has been killed by signal 9.", 1, K.KILLED, True, None),
    ("emerge-sigterm", "Exiting on signal 15", 1, K.KILLED, True, None),
    ("make-killed", "make: *** [Makefile:20: all] Killed", 2, K.KILLED, True, None),
    ("make-error-137", "make[1]: *** [Makefile:500: libfoo.la] Error 137", 2, K.KILLED, True, None),
    ("cargo-sigkill", "process didn't exit successfully: `rustc --crate-name foo --edition=2021 src/lib.rs` (signal: 9, SIGKILL: kill)", 101,
     K.KILLED, True, None),
    ("fetch-restricted", "!!! dev-libs/foo-1.2 has fetch restriction turned on.", 1, K.PHASE, False, None),
    ("masked", '!!! All ebuilds that could satisfy "=dev-libs/foo-1.2" have been masked.', 1, K.DEPENDENCY, False, None),
    ("slot-conflict", "!!! Multiple package instances within a single package slot have been pulled", 1, K.DEPENDENCY, False, None),
    ("problem-resolving", "!!! Problem resolving dependencies for dev-libs/foo", 1, K.DEPENDENCY, False, None),
    ("target-no-ebuild", 'emerge: there are no ebuilds to satisfy "=dev-libs/foo-1.2".', 1, K.DEPENDENCY, False, None),
    ("exit-137", "", 137, K.KILLED, True, None),
    ("exit-minus-9", "", -9, K.KILLED, True, None),
    ("exit-143", "", 143, K.KILLED, True, None),
    ("exit-minus-15", "", -15, K.KILLED, True, None),
    ("exit-1-nothing", "", 1, K.UNKNOWN, False, None),
    ("emerging-only", ">>> Emerging (1 of 1) dev-libs/foo-1.2::gentoo", 1, K.UNKNOWN, False, None),
    # look-alikes that must not be taken for infrastructure trouble
    ("test-named-sigterm", "FAILED tests/test_signals.py::test_sigterm_handler - AssertionError: assert 0 == 15", 1, K.UNKNOWN, False, None),
    ("test-connection-refused", "E   ConnectionRefusedError: [Errno 111] Connection refused", 1, K.UNKNOWN, False, None),
    ("test-named-oom", "tests/test_alloc.py::test_out_of_memory_is_reported PASSED", 1, K.UNKNOWN, False, None),
]


@pytest.mark.parametrize(("text", "exit_code", "kind", "infrastructure", "phase"), [row[1:] for row in LINES], ids=[row[0] for row in LINES])
def test_single_lines(text: str, exit_code: int | None, kind: FailureKind, infrastructure: bool, phase: str | None) -> None:
    why = classify_failure(text, exit_code)
    assert (why.kind, why.infrastructure, why.phase) == (kind, infrastructure, phase)
    decided_by_text = kind is not K.UNKNOWN and text.strip() != ""
    assert why.line == (text.strip() if decided_by_text else "")


def _epilogue(cpv: str, phase: str, reason: str) -> str:
    """What emerge prints after an ebuild phase dies."""
    pf = cpv.split("/", 1)[1]
    tmp = f"/var/tmp/portage/{cpv}"
    return (f" * ERROR: {cpv}::gentoo failed ({phase} phase):\n"
            f" *   {reason}\n"
            " * \n"
            f" * Call stack:\n"
            f" *     ebuild.sh, line  136:  Called src_{phase}\n"
            f" *   environment, line 2347:  Called die\n"
            f" * If you need support, post the output of `emerge --info '={cpv}::gentoo'`,\n"
            f" * the complete build log and the output of `emerge -pqv '={cpv}::gentoo'`.\n"
            f" * The complete build log is located at '{tmp}/temp/build.log'.\n"
            f" * The ebuild environment file is located at '{tmp}/temp/environment'.\n"
            f" * Working directory: '{tmp}/work/{pf}'\n"
            f" * S: '{tmp}/work/{pf}'\n"
            "\n"
            f">>> Failed to emerge {cpv}, Log file:\n"
            "\n"
            f">>>  '{tmp}/temp/build.log'\n")


COMPILE_ERROR = (
    ">>> Compiling source in /var/tmp/portage/dev-libs/libfrob-1.2/work/libfrob-1.2 ...\n"
    "make -j8 -l8\n"
    "x86_64-pc-linux-gnu-gcc -DHAVE_CONFIG_H -I. -I..  -O2 -pipe -march=x86-64-v3 -c -o frob.o frob.c\n"
    "frob.c: In function 'frob_init':\n"
    "frob.c:42:9: error: implicit declaration of function 'strlcpy'; did you mean 'strncpy'? [-Wimplicit-function-declaration]\n"
    "   42 |         strlcpy(buf, name, sizeof buf);\n"
    "      |         ^~~~~~~\n"
    "      |         strncpy\n"
    "make[2]: *** [Makefile:512: frob.o] Error 1\n"
    "make[2]: Leaving directory '/var/tmp/portage/dev-libs/libfrob-1.2/work/libfrob-1.2/src'\n"
    "make[1]: *** [Makefile:389: all-recursive] Error 1\n"
    "make: *** [Makefile:321: all] Error 2\n"
) + _epilogue("dev-libs/libfrob-1.2", "compile", "emake failed")

CC1PLUS_KILLED = (
    ">>> Compiling source in /var/tmp/portage/dev-qt/qtwebengine-6.8.1/work/qtwebengine-everywhere-src-6.8.1 ...\n"
    "[18234/31542] /usr/bin/x86_64-pc-linux-gnu-g++ -MMD -MF obj/blink/core/css_property_value_set.o.d -O2 -pipe -c "
    "../../third_party/blink/renderer/core/css/css_property_value_set.cc -o obj/blink/core/css_property_value_set.o\n"
    "FAILED: obj/third_party/blink/renderer/core/css/css_property_value_set.o\n"
    "x86_64-pc-linux-gnu-g++: fatal error: Killed signal terminated program cc1plus\n"
    "compilation terminated.\n"
    "ninja: build stopped: subcommand failed.\n"
) + _epilogue("dev-qt/qtwebengine-6.8.1", "compile", "ninja -v -j16 -l16 failed")

LINK_ENOSPC = (
    "x86_64-pc-linux-gnu-g++ -O2 -pipe -Wl,-O1 -Wl,--as-needed -o bin/clang-19 @objects.rsp\n"
    "/usr/lib/gcc/x86_64-pc-linux-gnu/14/../../../../x86_64-pc-linux-gnu/bin/ld: final link failed: No space left on device\n"
    "collect2: error: ld returned 1 exit status\n"
    "make[2]: *** [tools/driver/CMakeFiles/clang.dir/build.make:245: bin/clang-19] Error 1\n"
    "make[1]: *** [CMakeFiles/Makefile2:41622: tools/driver/CMakeFiles/clang.dir/all] Error 2\n"
) + _epilogue("llvm-core/clang-19.1.7", "compile", "emake failed")

TEST_FAILURE = (
    "=================================== FAILURES ===================================\n"
    "_____________________________ test_fetch_remote ________________________________\n"
    "E   ConnectionRefusedError: [Errno 111] Connection refused\n"
    "____________________________ test_roundtrip[utf-8] _____________________________\n"
    "E       AssertionError: assert b'\\xc3' == b'\\xc3\\xa9'\n"
    "=========================== short test summary info ============================\n"
    "FAILED tests/test_net.py::test_fetch_remote - ConnectionRefusedError: [Errno 111] Connection refused\n"
    "FAILED tests/test_codec.py::test_roundtrip[utf-8] - AssertionError: assert b'\\xc3' == b'\\xc3\\xa9'\n"
    "========================= 2 failed, 212 passed in 4.31s =========================\n"
) + _epilogue("dev-python/foo-2.0", "test", "pytest failed with python3.12")

DISTFILE_FETCH = (
    ">>> Downloading 'https://distfiles.gentoo.org/distfiles/ab/foo-1.2.tar.gz'\n"
    "--2025-01-14 10:22:31--  https://distfiles.gentoo.org/distfiles/ab/foo-1.2.tar.gz\n"
    "Resolving distfiles.gentoo.org (distfiles.gentoo.org)... failed: Temporary failure in name resolution.\n"
    "wget: unable to resolve host address 'distfiles.gentoo.org'\n"
    ">>> Downloading 'https://example.org/releases/foo-1.2.tar.gz'\n"
    "--2025-01-14 10:22:31--  https://example.org/releases/foo-1.2.tar.gz\n"
    "Resolving example.org (example.org)... failed: Temporary failure in name resolution.\n"
    "wget: unable to resolve host address 'example.org'\n"
    "!!! Couldn't download 'foo-1.2.tar.gz'. Aborting.\n"
    " * Fetch failed for 'dev-libs/foo-1.2', Log file:\n"
    " *  '/var/tmp/portage/dev-libs/foo-1.2/temp/build.log'\n"
    "\n"
    ">>> Failed to emerge dev-libs/foo-1.2, Log file:\n"
    "\n"
    ">>>  '/var/tmp/portage/dev-libs/foo-1.2/temp/build.log'\n"
)

DISTFILE_CHECKSUM = (
    ">>> Downloading 'https://example.org/releases/foo-1.2.tar.gz'\n"
    "--2025-01-14 10:22:31--  https://example.org/releases/foo-1.2.tar.gz\n"
    "HTTP request sent, awaiting response... 200 OK\n"
    "Length: 1048576 (1.0M) [application/x-gzip]\n"
    "2025-01-14 10:22:32 (8.1 MB/s) - '/var/cache/distfiles/foo-1.2.tar.gz.__download__' saved [1048576/1048576]\n"
    "!!! Fetched file: foo-1.2.tar.gz VERIFY FAILED!\n"
    "!!! Reason: Filesize does not match recorded size\n"
    "!!! Got:      1048576\n"
    "!!! Expected: 2211840\n"
    "Refetching... File renamed to '/var/cache/distfiles/foo-1.2.tar.gz._checksum_failure_.kq1c3n7a'\n"
)

BINPKG_404 = (
    ">>> Emerging binary (1 of 3) dev-libs/bar-1::gentoo\n"
    ">>> Fetching (1 of 3) dev-libs/bar-1::gentoo\n"
    "--2025-01-14 10:22:31--  http://binhost.swarm.lan/amd64/dev-libs/bar/bar-1-1.gpkg.tar\n"
    "Connecting to binhost.swarm.lan (binhost.swarm.lan)|10.0.0.5|:80... connected.\n"
    "HTTP request sent, awaiting response... 404 Not Found\n"
    "2025-01-14 10:22:31 ERROR 404: Not Found.\n"
    "\n"
    "!!! Fetching Binary failed for 'dev-libs/bar-1'\n"
    "\n"
    ">>> Failed to emerge dev-libs/bar-1\n"
)

BINPKG_DIGEST = (
    ">>> Emerging binary (2 of 3) dev-libs/baz-3.1::gentoo\n"
    "\n"
    "!!! Digest verification failed:\n"
    "!!! /var/cache/binpkgs/dev-libs/baz/baz-3.1-1.gpkg.tar\n"
    "!!! Reason: Failed on size verification\n"
    "!!! Got: 1048576\n"
    "!!! Expected: 2211840\n"
    "File renamed to '/var/cache/binpkgs/dev-libs/baz/baz-3.1-1.gpkg.tar._checksum_failure_.x1y2z3'\n"
    ">>> Failed to emerge dev-libs/baz-3.1\n"
)

EBUILD_DIGEST = (
    " * checking ebuild checksums ;-) ...\n"
    " * Digest verification failed:\n"
    " * /var/db/repos/gentoo/dev-libs/foo/foo-1.2.ebuild\n"
    " * Reason: Filesize does not match recorded size\n"
    " * Got: 2034\n"
    " * Expected: 2101\n"
)

DEP_NOT_SATISFIED = (
    "Calculating dependencies... done!\n"
    "\n"
    'emerge: there are no ebuilds to satisfy "dev-libs/bar:0/1=".\n'
    '(dependency required by "dev-libs/foo-1.2::gentoo" [ebuild])\n'
    '(dependency required by "=dev-libs/foo-1.2" [argument])\n'
)

TARGET_MASKED = (
    "Calculating dependencies... done!\n"
    "\n"
    '!!! All ebuilds that could satisfy "=dev-libs/foo-1.2" have been masked.\n'
    "!!! One of the following masked packages is required to complete your request:\n"
    "- dev-libs/foo-1.2::gentoo (masked by: ~amd64 keyword)\n"
    "\n"
    "For more information, see the MASKED PACKAGES section in the emerge\n"
    "man page or refer to the Gentoo Handbook.\n"
)

REQUIRED_USE = (
    "Calculating dependencies... done!\n"
    '!!! The ebuild selected to satisfy "=media-libs/mesa-24.2.8" has unmet requirements.\n'
    '- media-libs/mesa-24.2.8::gentoo USE="X gles2 llvm vaapi vulkan -d3d9 -zink" VIDEO_CARDS="-intel -radeonsi"\n'
    "\n"
    "  The following REQUIRED_USE flag constraints are unsatisfied:\n"
    "    vulkan? ( video_cards_intel? ( llvm ) )\n"
)

BLOCKER = (
    "[ebuild  N     ] dev-libs/foo-1.2::gentoo  USE=\"-static-libs\" 0 KiB\n"
    '[blocks B      ] dev-libs/oldfoo ("dev-libs/oldfoo" is soft blocking dev-libs/foo-1.2)\n'
    "\n"
    " * Error: The above package list contains packages which cannot be\n"
    " * installed at the same time on the same system.\n"
    "\n"
    "  (dev-libs/oldfoo-0.9:0/0::gentoo, installed) pulled in by\n"
    "    @system\n"
)

TIMED_OUT = (
    ">>> Compiling source in /var/tmp/portage/www-client/firefox-134.0/work/firefox-134.0 ...\n"
    "[ 412/17800] Building CXX object dom/media/Unified_cpp_dom_media0.o\n"
    "build-swarm: build timed out after 7200 s\n"
    "Exiting on signal 15\n"
)

COLOURED_INSTALL = (
    ">>> Install dev-libs/foo-1.2 into /var/tmp/portage/dev-libs/foo-1.2/image\n"
    "install: cannot stat 'doc/foo.1': No such file or directory\n"
    " \x1b[31;01m*\x1b[0m ERROR: dev-libs/foo-1.2::gentoo failed (install phase):\n"
    " \x1b[31;01m*\x1b[0m   doman failed\n"
)

TAILS: list[tuple[str, str, int | None, FailureKind, bool, str | None, str]] = [
    ("compile-error", COMPILE_ERROR, 1, K.COMPILE, False, "compile", "* ERROR: dev-libs/libfrob-1.2::gentoo failed (compile phase):"),
    ("oom-beats-compile", CC1PLUS_KILLED, 1, K.OOM, True, "compile",
     "x86_64-pc-linux-gnu-g++: fatal error: Killed signal terminated program cc1plus"),
    ("disk-full-beats-compile", LINK_ENOSPC, 1, K.DISK_FULL, True, "compile",
     "/usr/lib/gcc/x86_64-pc-linux-gnu/14/../../../../x86_64-pc-linux-gnu/bin/ld: final link failed: No space left on device"),
    ("test-failure-with-refused-socket", TEST_FAILURE, 1, K.TEST, False, "test", "* ERROR: dev-python/foo-2.0::gentoo failed (test phase):"),
    ("distfile-fetch", DISTFILE_FETCH, 1, K.FETCH, True, None, "* Fetch failed for 'dev-libs/foo-1.2', Log file:"),
    ("distfile-checksum", DISTFILE_CHECKSUM, 1, K.FETCH, True, None, "!!! Fetched file: foo-1.2.tar.gz VERIFY FAILED!"),
    ("binpkg-404", BINPKG_404, 1, K.BINHOST, True, None, "!!! Fetching Binary failed for 'dev-libs/bar-1'"),
    ("binpkg-digest", BINPKG_DIGEST, 1, K.BINHOST, True, None, "!!! Digest verification failed:"),
    ("ebuild-digest", EBUILD_DIGEST, 1, K.FETCH, True, None, "* Digest verification failed:"),
    ("dep-not-on-binhost", DEP_NOT_SATISFIED, 1, K.BINHOST, True, None, 'emerge: there are no ebuilds to satisfy "dev-libs/bar:0/1=".'),
    ("target-masked", TARGET_MASKED, 1, K.DEPENDENCY, False, None,
     '!!! All ebuilds that could satisfy "=dev-libs/foo-1.2" have been masked.'),
    ("required-use", REQUIRED_USE, 1, K.DEPENDENCY, False, None, "The following REQUIRED_USE flag constraints are unsatisfied:"),
    ("blocker", BLOCKER, 1, K.DEPENDENCY, False, None, "* Error: The above package list contains packages which cannot be"),
    ("timeout-beats-signal", TIMED_OUT, 143, K.TIMEOUT, True, None, "build-swarm: build timed out after 7200 s"),
    ("kill-exit-beats-phase", COMPILE_ERROR, 137, K.KILLED, True, "compile", ""),
    ("coloured-install", COLOURED_INSTALL, 1, K.INSTALL, False, "install", "* ERROR: dev-libs/foo-1.2::gentoo failed (install phase):"),
    ("empty", "", None, K.UNKNOWN, False, None, ""),
    ("blank-lines", "\n  \n\t\n", 1, K.UNKNOWN, False, None, ""),
]


@pytest.mark.parametrize(("tail", "exit_code", "kind", "infrastructure", "phase", "line"), [row[1:] for row in TAILS],
                         ids=[row[0] for row in TAILS])
def test_log_tails(tail: str, exit_code: int | None, kind: FailureKind, infrastructure: bool, phase: str | None, line: str) -> None:
    assert classify_failure(tail, exit_code) == Classification(kind, phase, line)
    assert classify_failure(tail, exit_code).infrastructure is infrastructure


def test_infrastructure_kinds_are_exactly_these() -> None:
    assert {kind for kind in FailureKind if kind.infrastructure} == {K.FETCH, K.DISK_FULL, K.OOM, K.KILLED, K.TIMEOUT, K.BINHOST, K.ARTIFACT,
                                                                      K.CONFIG}
    assert [kind.value for kind in FailureKind] == ["fetch", "disk_full", "oom", "killed", "timeout", "binhost", "artifact", "config",
                                                    "dependency", "configure", "compile", "test", "install", "phase", "unknown", "coordinator"]


def test_the_coordinators_full_disk_is_counted_against_no_one() -> None:
    """An upload the coordinator answered 507 (its disk is full): neither the package's nor the drone's failure."""
    tail = ("emerge output\nbuild-swarm: upload failed: build-swarm: the coordinator's disk is full (HTTP 507): "
            "tmux-3.5a-1.gpkg.tar could not be uploaded after 5 tries")
    why = classify_failure(tail)
    assert (why.kind, why.infrastructure) == (K.COORDINATOR, False) and why.summary().startswith("the coordinator could not take it")



def test_a_configuration_the_drone_cannot_reproduce_counts_against_the_drone() -> None:
    line = ("build-swarm: cannot reproduce the build configuration 3f2a9c0d1e2b3f4a5b6c7d8e: profile default/linux/amd64/23.0 "
            "is not in /srv/gentoo/profiles (sync this drone's gentoo tree)")
    found = classify_failure(line)
    assert (found.kind, found.line, found.infrastructure) == (K.CONFIG, line, True)
    assert found.summary() == f"the drone cannot build this plan: {line}"


def test_disk_full_outranks_oom_and_oom_outranks_kill_text() -> None:
    tail = "virtual memory exhausted: Cannot allocate memory\ncp: error writing 'x': No space left on device\nmake: *** [Makefile:2: all] Killed"
    assert classify_failure(tail).kind is K.DISK_FULL
    assert classify_failure("make: *** [Makefile:2: all] Killed\nOut of memory: Killed process 99 (ld)").kind is K.OOM


def test_missing_binary_dependency_beats_the_network_errors_that_caused_it() -> None:
    assert classify_failure(BINPKG_404 + DISTFILE_FETCH).kind is K.BINHOST


def test_fetch_restriction_is_the_packages_fault() -> None:
    tail = ("!!! dev-libs/foo-1.2 has fetch restriction turned on.\n"
            "!!! This probably means that this ebuild's files must be downloaded\n"
            " * Fetch failed for 'dev-libs/foo-1.2', Log file:\n")
    why = classify_failure(tail, 1)
    assert (why.kind, why.infrastructure, why.line) == (K.PHASE, False, "!!! dev-libs/foo-1.2 has fetch restriction turned on.")


@pytest.mark.parametrize(("why", "text"), [
    (Classification(K.COMPILE, "compile", "* ERROR: a/b-1::gentoo failed (compile phase):"),
     "compile phase failed: * ERROR: a/b-1::gentoo failed (compile phase):"),
    (Classification(K.OOM, None, "virtual memory exhausted: Cannot allocate memory"),
     "out of memory: virtual memory exhausted: Cannot allocate memory"),
    (Classification(K.DISK_FULL, "compile", "ld: final link failed: No space left on device"),
     "disk full (compile phase): ld: final link failed: No space left on device"),
    (Classification(K.KILLED, None, ""), "killed"),
    (Classification(K.CONFIGURE, None, "configure: error: no acceptable C compiler found in $PATH"),
     "configure failed: configure: error: no acceptable C compiler found in $PATH"),
    (Classification(K.UNKNOWN, None, ""), "build failed"),
])
def test_summary(why: Classification, text: str) -> None:
    assert why.summary() == text


def test_summary_of_a_classified_tail() -> None:
    assert classify_failure(LINK_ENOSPC).summary() == (
        "disk full (compile phase): /usr/lib/gcc/x86_64-pc-linux-gnu/14/../../../../x86_64-pc-linux-gnu/bin/ld: final link failed: "
        "No space left on device")


def test_large_and_hostile_tails_stay_fast() -> None:
    noise = "".join(f"[{i}/40000] x86_64-pc-linux-gnu-g++ -O2 -pipe -c src/file{i}.cc -o obj/file{i}.o\n" for i in range(40000))
    hostile = "make: *** [" * 20000 + "ERROR: " * 20000 + "\x1b[" + "1;" * 20000 + "\n"
    started = time.perf_counter()
    why = classify_failure(noise + hostile + COMPILE_ERROR, 1)
    assert time.perf_counter() - started < 2.0
    assert (why.kind, why.phase) == (K.COMPILE, "compile")
