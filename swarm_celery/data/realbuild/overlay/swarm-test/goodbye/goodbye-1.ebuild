# The second consumer of libgreet; USE=extra builds and installs one more program.
EAPI=8

DESCRIPTION="Says goodbye through libgreet, and goodbye-extra with USE=extra"
SRC_URI="http://127.0.0.1:9/distfiles/${P}.tar.gz"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"
IUSE="+extra"
RESTRICT="mirror"

DEPEND="swarm-test/libgreet:="
RDEPEND="${DEPEND}"

src_compile() {
	emake CC="${CC:-gcc}" CFLAGS="${CFLAGS}" LDFLAGS="${LDFLAGS}" PROGRAMS="goodbye$(usev extra ' goodbye-extra')" \
		GREET_INCLUDEDIR="${ESYSROOT}/usr/include" GREET_LIBDIR="${ESYSROOT}/usr/$(get_libdir)" \
		RPATH="${EPREFIX}/usr/$(get_libdir)"
}

src_install() {
	emake DESTDIR="${D}" PREFIX="${EPREFIX}/usr" PROGRAMS="goodbye$(usev extra ' goodbye-extra')" install
}
