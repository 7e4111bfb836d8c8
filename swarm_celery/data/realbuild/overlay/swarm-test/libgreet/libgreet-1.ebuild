# A C library with a sub-slot: the soname version is the sub-slot (libgreet.so.1 for SLOT 0/1).
EAPI=8

DESCRIPTION="A tiny shared C library (libgreet.so.N) and its header"
SRC_URI="http://127.0.0.1:9/distfiles/${P}.tar.gz"

LICENSE="MIT"
SLOT="0/1"
KEYWORDS="amd64"
RESTRICT="mirror"

src_compile() {
	emake CC="${CC:-gcc}" CFLAGS="${CFLAGS}" LDFLAGS="${LDFLAGS}" SOVERSION="${SLOT#*/}"
}

src_install() {
	emake DESTDIR="${D}" PREFIX="${EPREFIX}/usr" LIBDIR="${EPREFIX}/usr/$(get_libdir)" SOVERSION="${SLOT#*/}" install
}
