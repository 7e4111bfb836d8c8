# A consumer of libgreet: rebuilt when libgreet's sub-slot changes (:=).
EAPI=8

DESCRIPTION="Prints a greeting made by libgreet"
SRC_URI="http://127.0.0.1:9/distfiles/${P}.tar.gz"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"
RESTRICT="mirror"

DEPEND="swarm-test/libgreet:="
RDEPEND="${DEPEND}"

src_compile() {
	emake CC="${CC:-gcc}" CFLAGS="${CFLAGS}" LDFLAGS="${LDFLAGS}" \
		GREET_INCLUDEDIR="${ESYSROOT}/usr/include" GREET_LIBDIR="${ESYSROOT}/usr/$(get_libdir)" \
		RPATH="${EPREFIX}/usr/$(get_libdir)"
}

src_install() {
	emake DESTDIR="${D}" PREFIX="${EPREFIX}/usr" install
}
