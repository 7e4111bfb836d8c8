"""The package table of the shipped synthetic repository (see :mod:`swarm_celery.resolve.synthetic`).

Pure data plus tiny pure helpers: no portage, no I/O. Dependency strings use real
Gentoo syntax (``:=`` slot operators, ``[flag(+)?]`` USE deps, ``flag? ( ... )``
conditionals, ``|| ( ... )`` groups). Build-time edges (DEPEND, BDEPEND) form a
DAG; the only cycles are run-time ones (util-linux <-> systemd with USE=systemd)
and a PDEPEND one (perl -> virtual/perl-File-Temp -> perl), as in real Gentoo.
Toolchain and @system packages are implicit build deps, so nothing lists them
unless a real ebuild does too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swarm_celery.domain.cpv import split_cpv

KEYWORDS = "amd64 arm64"
ARCHES = ("amd64", "arm64")
EAPI = "8"

_ATOM_RE = re.compile(r"^(?:!!?)?(?P<op>>=|<=|~|=|<|>)?(?P<rest>.+)$")
_ATOM_VERSION_RE = re.compile(r"-\d[\w.]*\*?(?:-r\d+)?$")


@dataclass(frozen=True)
class SyntheticPackage:
    """One ebuild. ``common`` goes into both DEPEND and RDEPEND (the COMMON_DEPEND idiom)."""

    cpv: str
    description: str
    homepage: str
    license: str = ""
    slot: str = "0"
    iuse: str = ""
    common: str = ""
    depend: str = ""
    rdepend: str = ""
    bdepend: str = ""
    pdepend: str = ""
    idepend: str = ""

    @property
    def category(self) -> str:
        return split_cpv(self.cpv).category

    @property
    def pn(self) -> str:
        return split_cpv(self.cpv).package

    @property
    def pf(self) -> str:
        return self.cpv.split("/", 1)[1]

    @property
    def cp(self) -> str:
        return f"{self.category}/{self.pn}"

    @property
    def is_virtual(self) -> bool:
        return self.category == "virtual"

    def dep_vars(self) -> dict[str, str]:
        """DEPEND, RDEPEND, BDEPEND, PDEPEND, IDEPEND as written in the ebuild and the cache."""
        return {
            "DEPEND": " ".join(x for x in (self.common, self.depend) if x),
            "RDEPEND": " ".join(x for x in (self.common, self.rdepend) if x),
            "BDEPEND": self.bdepend,
            "PDEPEND": self.pdepend,
            "IDEPEND": self.idepend,
        }


def atom_cp(atom: str) -> str:
    """``>=dev-libs/openssl-3:0=[-bindist(-)]`` -> ``dev-libs/openssl`` (blockers included)."""
    match = _ATOM_RE.match(atom)
    if match is None:
        raise ValueError(f"not an atom: {atom!r}")
    bare = re.split(r"[:\[]", match["rest"], maxsplit=1)[0]
    return _ATOM_VERSION_RE.sub("", bare) if match["op"] else bare


def dep_atoms(depstring: str) -> list[str]:
    """Every package atom of a dependency string (conditionals, groups and parentheses skipped)."""
    return [tok for tok in depstring.split() if tok not in ("(", ")", "||") and not tok.endswith("?")]


def dep_conditionals(depstring: str) -> list[str]:
    """The USE flags of ``flag?`` / ``!flag?`` conditionals in a dependency string."""
    return [tok.rstrip("?").lstrip("!") for tok in depstring.split() if tok.endswith("?")]


def iuse_flags(iuse: str) -> set[str]:
    return {flag.lstrip("+-") for flag in iuse.split()}


_PKG = SyntheticPackage
_NLS = "nls? ( virtual/libintl )"
_NLS_B = "nls? ( sys-devel/gettext )"

PACKAGES: tuple[SyntheticPackage, ...] = (
    _PKG("sys-kernel/linux-headers-6.12", "Linux system headers", "https://www.kernel.org/", "GPL-2",
         bdepend="app-arch/xz-utils dev-lang/perl"),
    _PKG("virtual/os-headers-0-r2", "Virtual for operating system headers", "", rdepend="sys-kernel/linux-headers:0"),
    _PKG("sys-libs/glibc-2.40-r5", "GNU libc C library", "https://www.gnu.org/software/libc/", "LGPL-2.1+ BSD ISC", "2.2",
         "+multiarch +ssp static-libs", depend="virtual/os-headers",
         bdepend=">=sys-devel/binutils-2.27 >=sys-devel/gcc-6.2 dev-lang/perl sys-devel/bison"),
    _PKG("virtual/libc-1-r1", "Virtual for the C library", "", rdepend="elibc_glibc? ( sys-libs/glibc:2.2 )"),
    _PKG("sys-libs/zlib-1.3.1-r1", "Standard (de)compression library", "https://zlib.net/", "ZLIB", "0/1", "minizip static-libs"),
    _PKG("sys-libs/ncurses-6.5_p20250118", "Console display library", "https://invisible-island.net/ncurses/", "MIT", "0/6",
         "+cxx debug +tinfo +unicode static-libs", bdepend="virtual/pkgconfig"),
    _PKG("sys-libs/readline-8.2_p13", "Another cute console display library", "https://tiswww.case.edu/php/chet/readline/rltop.html",
         "GPL-3+", "0/8", "static-libs +unicode utils", common=">=sys-libs/ncurses-5.9-r3:0=", bdepend="virtual/pkgconfig"),
    _PKG("sys-libs/libxcrypt-4.4.38", "Extended crypt library for descrypt, md5crypt, bcrypt, and others",
         "https://github.com/besser82/libxcrypt", "LGPL-2.1+ BSD", "0/1", "+compat static-libs +system"),
    _PKG("virtual/libcrypt-2-r1", "Virtual for libcrypt.so", "", slot="0/2", rdepend=">=sys-libs/libxcrypt-4.4.25[system]"),
    _PKG("virtual/libintl-0-r2", "Virtual for the GNU conversion library", "", rdepend="!elibc_glibc? ( sys-devel/gettext )"),
    _PKG("virtual/pkgconfig-3", "Virtual for the pkg-config implementation", "", rdepend=">=dev-util/pkgconf-1.3.7"),
    _PKG("dev-util/pkgconf-2.3.0", "pkg-config compatible replacement with no dependencies other than C99",
         "https://gitea.treehouse.systems/ariadne/pkgconf", "ISC", "0/5"),
    _PKG("sys-devel/gettext-0.22.5", "GNU locale utilities", "https://www.gnu.org/software/gettext/", "GPL-3+ LGPL-2.1+", "0",
         "+cxx ncurses nls openmp static-libs", common="ncurses? ( sys-libs/ncurses:= )"),
    _PKG("sys-devel/m4-1.4.19-r4", "GNU macro processor", "https://www.gnu.org/software/m4/m4.html", "GPL-3+", "0",
         "examples nls", bdepend=f"app-arch/xz-utils {_NLS_B}"),
    _PKG("sys-devel/flex-2.6.4-r6", "The Fast Lexical Analyzer", "https://github.com/westes/flex", "FLEX", "0",
         "nls static", rdepend="sys-devel/m4", bdepend=f"sys-devel/m4 {_NLS_B}"),
    _PKG("sys-devel/bison-3.8.2-r2", "A general-purpose (yacc-compatible) parser generator", "https://www.gnu.org/software/bison/",
         "GPL-3+", "0", "examples nls static", common=">=sys-devel/m4-1.4.16", bdepend=f"app-arch/xz-utils sys-devel/flex {_NLS_B}"),
    _PKG("sys-devel/binutils-2.43-r2", "Tools necessary to build programs", "https://sourceware.org/binutils/", "GPL-3+", "2.43",
         "+gold multitarget +nls +plugins static-libs zstd", common="sys-libs/zlib zstd? ( app-arch/zstd:= )",
         bdepend=f"sys-devel/flex sys-devel/bison {_NLS_B}"),
    _PKG("sys-devel/gcc-config-2.11", "Utility to manage compilers", "https://gitweb.gentoo.org/proj/gcc-config.git/", "GPL-2"),
    _PKG("sys-devel/gcc-14.2.1_p20241221", "The GNU Compiler Collection", "https://gcc.gnu.org/", "GPL-3+ LGPL-3+ FDL-1.3+", "14",
         "+cxx +fortran nls openmp +pie +sanitize +ssp zstd",
         common=f"sys-libs/zlib >=dev-libs/gmp-4.3.2:0= >=dev-libs/mpfr-2.4.2:0= >=dev-libs/mpc-0.8.1:0= {_NLS} zstd? ( app-arch/zstd:= )",
         bdepend=f">=sys-devel/bison-1.875 >=sys-devel/flex-2.5.4 {_NLS_B}", idepend=">=sys-devel/gcc-config-2.11"),
    _PKG("dev-build/make-4.4.1-r100", "Standard tool to compile source trees", "https://www.gnu.org/software/make/make.html",
         "GPL-3+", "0", "nls static", rdepend=_NLS, bdepend=f"app-arch/xz-utils {_NLS_B}"),
    _PKG("app-arch/xz-utils-5.6.3", "Utils for managing LZMA compressed files", "https://tukaani.org/xz/",
         "public-domain LGPL-2.1+ GPL-2+", "0", "doc +extra-filters nls static-libs", bdepend=_NLS_B),
    _PKG("app-arch/zstd-1.5.6-r2", "zstd fast compression library", "https://facebook.github.io/zstd/", "|| ( BSD GPL-2 )", "0/1",
         "+lzma static-libs zlib", common="lzma? ( app-arch/xz-utils ) zlib? ( sys-libs/zlib:= )"),
    _PKG("app-arch/tar-1.35", "Use this to make tarballs :)", "https://www.gnu.org/software/tar/", "GPL-3+", "0",
         "minimal nls xattr", rdepend=_NLS, bdepend=_NLS_B),
    _PKG("app-arch/gzip-1.13", "Standard GNU compressor", "https://www.gnu.org/software/gzip/", "GPL-3+", "0", "pic static",
         bdepend="app-arch/xz-utils"),
    _PKG("dev-libs/gmp-6.3.0-r1", "Library for arbitrary-precision arithmetic on different type of numbers", "https://gmplib.org/",
         "|| ( LGPL-3+ GPL-2+ )", "0/10.4", "+asm +cpudetection +cxx doc pic static-libs", bdepend="sys-devel/m4 app-arch/xz-utils"),
    _PKG("dev-libs/mpfr-4.2.1-r1", "Library for multiple-precision floating-point computations with exact rounding",
         "https://www.mpfr.org/", "LGPL-2.1", "0/6", "static-libs", common=">=dev-libs/gmp-5.0.0:="),
    _PKG("dev-libs/mpc-1.3.1", "Library for multiprecision complex arithmetic with exact rounding", "https://www.multiprecision.org/mpc/",
         "LGPL-2.1", "0/3", "static-libs", common=">=dev-libs/gmp-5.0.0:= >=dev-libs/mpfr-4.1.0:="),
    _PKG("dev-libs/openssl-3.3.2-r2", "Robust, full-featured Open Source Toolkit for the Transport Layer Security (TLS)",
         "https://openssl-library.org/", "Apache-2.0", "0/3", "+asm fips ktls static-libs tls-compression weak-ssl-ciphers",
         common="tls-compression? ( >=sys-libs/zlib-1.2.8-r1[static-libs(+)?] )", bdepend=">=dev-lang/perl-5"),
    _PKG("dev-libs/libffi-3.4.6-r2", "A portable, high level programming interface to various calling conventions",
         "https://sourceware.org/libffi/", "MIT", "0/8", "debug exec-static-trampoline static-libs"),
    _PKG("dev-libs/libpcre2-10.44-r1", "Perl-compatible regular expression library", "https://github.com/PCRE2Project/pcre2", "BSD",
         "0/3", "bzip2 +jit +pcre16 +pcre32 readline static-libs unicode zlib",
         common="readline? ( sys-libs/readline:0= ) zlib? ( sys-libs/zlib )", bdepend="virtual/pkgconfig"),
    _PKG("dev-libs/libevent-2.1.12-r1", "Library to execute a function when a specific event occurs on a file descriptor",
         "https://libevent.org/", "BSD", "0/2.1-7", "+clock-gettime debug +ssl static-libs",
         common="ssl? ( >=dev-libs/openssl-1.1.0:= )"),
    _PKG("dev-lang/perl-5.40.0-r1", "Larry Wall's Practical Extraction and Report Language", "https://www.perl.org/",
         "|| ( Artistic GPL-1+ )", "0/5.40", "debug doc ithreads minimal", common="sys-libs/zlib virtual/libcrypt:=",
         pdepend="!minimal? ( >=virtual/perl-File-Temp-0.230.0 )"),
    _PKG("virtual/perl-File-Temp-0.231.100", "Virtual for perl-core/File-Temp", "",
         rdepend="|| ( =dev-lang/perl-5.40* ~perl-core/File-Temp-0.231.100 )"),
    _PKG("perl-core/File-Temp-0.231.100", "File::Temp can be used to create and open temporary files in a safe way",
         "https://metacpan.org/release/File-Temp", "|| ( Artistic GPL-1+ )", rdepend="dev-lang/perl:="),
    _PKG("dev-lang/python-3.12.8_p1", "An interpreted, interactive, object-oriented programming language",
         "https://www.python.org/", "PSF-2", "3.12/3.12", "build +ensurepip examples +ncurses pgo +readline +ssl",
         common=("app-arch/xz-utils:= >=dev-libs/libffi-3.0.11:= sys-libs/zlib:= virtual/libcrypt:= virtual/libintl "
                 "ncurses? ( >=sys-libs/ncurses-5.2:= ) readline? ( >=sys-libs/readline-4.1:= ) ssl? ( >=dev-libs/openssl-1.1.1:= )"),
         bdepend="app-arch/xz-utils virtual/pkgconfig"),
    _PKG("app-shells/bash-5.2_p37", "The standard GNU Bourne again shell", "https://tiswww.case.edu/php/chet/bash/bashtop.html",
         "GPL-3+", "0", "+net nls plugins +readline",
         common=f">=sys-libs/ncurses-5.2-r2:= readline? ( >=sys-libs/readline-8.2:= ) {_NLS}", bdepend=f"sys-devel/bison {_NLS_B}"),
    _PKG("sys-apps/coreutils-9.5", "Standard GNU utilities (chmod, cp, dd, ls, sort, tr, head, wc, who,...)",
         "https://www.gnu.org/software/coreutils/", "GPL-3+", "0", "gmp hostname kill multicall nls +openssl static xattr",
         common="gmp? ( dev-libs/gmp:= ) openssl? ( dev-libs/openssl:0= )", rdepend=_NLS, bdepend=f"app-arch/xz-utils dev-lang/perl {_NLS_B}"),
    _PKG("sys-apps/sed-4.9-r1", "Super-useful stream editor", "https://www.gnu.org/software/sed/", "GPL-3+", "0", "nls static",
         rdepend=_NLS, bdepend=_NLS_B),
    _PKG("sys-apps/grep-3.11-r1", "GNU regular expression matcher", "https://www.gnu.org/software/grep/", "GPL-3+", "0",
         "+egrep-fgrep nls +pcre static", common=f"pcre? ( >=dev-libs/libpcre2-10.42-r1:= ) {_NLS}",
         bdepend=f"virtual/pkgconfig {_NLS_B}"),
    _PKG("sys-apps/util-linux-2.40.4", "Various useful Linux utilities", "https://www.kernel.org/pub/linux/utils/util-linux/",
         "GPL-2 GPL-3 LGPL-2.1 BSD MIT public-domain", "0",
         "build +cramfs +hardlink kill +logger ncurses nls +readline static-libs +suid systemd udev unicode",
         common=("virtual/libcrypt:= cramfs? ( sys-libs/zlib:= ) ncurses? ( sys-libs/ncurses:=[unicode(+)?] ) "
                 "readline? ( sys-libs/readline:0= )"),
         pdepend="systemd? ( sys-apps/systemd )", bdepend=f"virtual/pkgconfig {_NLS_B}"),
    _PKG("sys-apps/systemd-256.10", "System and service manager for Linux", "https://systemd.io/",
         "GPL-2 LGPL-2.1 MIT public-domain", "0/2", "curl +dns-over-tls lzma pcre +resolvconf +sysv-utils +zstd",
         common=(">=sys-apps/util-linux-2.32:0= virtual/libcrypt:= curl? ( net-misc/curl:= ) dns-over-tls? ( dev-libs/openssl:0= ) "
                 "lzma? ( app-arch/xz-utils:= ) pcre? ( dev-libs/libpcre2 ) zstd? ( >=app-arch/zstd-1.4.0:= )"),
         bdepend=">=dev-lang/python-3.8 virtual/pkgconfig"),
    _PKG("sys-apps/portage-3.0.66.1-r1", "The package management and distribution system for Gentoo",
         "https://wiki.gentoo.org/wiki/Project:Portage", "GPL-2", "0",
         "build doc +ipc +native-extensions python_targets_python3_12 +rsync-verify xattr",
         rdepend=(">=app-arch/tar-1.27 app-shells/bash:0[readline] >=sys-apps/sed-4.0.5 sys-apps/coreutils >=app-arch/zstd-1.4.6 "
                  "python_targets_python3_12? ( dev-lang/python:3.12 )"),
         bdepend="python_targets_python3_12? ( dev-lang/python:3.12 )"),
    _PKG("virtual/package-manager-1", "Virtual for the package manager", "", rdepend="sys-apps/portage"),
    _PKG("virtual/editor-0-r7", "Virtual for editor", "", rdepend="|| ( app-editors/nano app-editors/vim )"),
    _PKG("app-editors/nano-8.3", "GNU GPL'd Pico clone with more functionality", "https://www.nano-editor.org/", "GPL-3+", "0",
         "debug justify minimal +ncurses nls +spell static unicode",
         common=f">=sys-libs/ncurses-5.9-r1:=[unicode(+)?] {_NLS}", bdepend=f"virtual/pkgconfig {_NLS_B}"),
    _PKG("app-editors/vim-core-9.1.0866", "vim and gvim shared files", "https://www.vim.org/", "vim", "0", "minimal nls",
         bdepend=_NLS_B),
    _PKG("app-editors/vim-9.1.0866", "Vim, an improved vi-style text editor", "https://www.vim.org/", "vim", "0",
         "debug minimal nls perl +python python_single_target_python3_12 sound terminal vim-pager",
         common=(f">=sys-libs/ncurses-5.2-r2:0= {_NLS} perl? ( dev-lang/perl:= ) "
                 "python? ( python_single_target_python3_12? ( dev-lang/python:3.12= ) )"),
         rdepend="~app-editors/vim-core-9.1.0866", bdepend=f"virtual/pkgconfig {_NLS_B}"),
    _PKG("app-misc/tmux-3.5a", "Terminal multiplexer", "https://tmux.github.io/", "ISC", "0", "debug systemd vim-syntax",
         common="dev-libs/libevent:= sys-libs/ncurses:= systemd? ( sys-apps/systemd:= )", bdepend="virtual/pkgconfig sys-devel/bison"),
    _PKG("net-misc/curl-8.11.1-r2", "A Client that groks URLs", "https://curl.se/", "curl", "0",
         "+ftp +http2 +imap +openssl +progress-meter +ssl static-libs zstd",
         common="ssl? ( openssl? ( dev-libs/openssl:0= ) ) sys-libs/zlib zstd? ( app-arch/zstd:= )",
         bdepend="dev-lang/perl virtual/pkgconfig"),
    _PKG("dev-vcs/git-2.47.1", "Stupid content tracker: distributed VCS designed for speed and efficiency", "https://www.git-scm.com/",
         "GPL-2", "0", "+curl doc +iconv +nls +pcre +perl +safe-directory",
         common=("dev-libs/openssl:= sys-libs/zlib curl? ( net-misc/curl ) pcre? ( dev-libs/libpcre2:= ) "
                 "perl? ( dev-lang/perl:=[-build(-)] )"),
         bdepend=_NLS_B),
)

WORLD: tuple[str, ...] = (
    "app-editors/vim",
    "app-misc/tmux",
    "dev-lang/python:3.12",
    "dev-vcs/git",
    "net-misc/curl",
    "app-arch/zstd",
)

# @system: base/packages, plus util-linux on linux, plus systemd on the systemd target.
SYSTEM_BASE: tuple[str, ...] = (
    "app-arch/gzip", "app-arch/tar", "app-arch/xz-utils", "app-shells/bash", "dev-build/make", "sys-apps/coreutils",
    "sys-apps/grep", "sys-apps/sed", "sys-devel/binutils", "sys-devel/gcc", "virtual/editor", "virtual/libc",
    "virtual/package-manager",
)
SYSTEM_LINUX: tuple[str, ...] = ("sys-apps/util-linux",)
SYSTEM_SYSTEMD: tuple[str, ...] = ("sys-apps/systemd",)

# Flags every ebuild may use in conditionals without listing them in IUSE (IUSE_EFFECTIVE).
IMPLICIT_FLAGS = frozenset({"amd64", "arm64", "elibc_glibc", "elibc_musl", "kernel_linux", "prefix", "prefix-guest", "prefix-stack"})
