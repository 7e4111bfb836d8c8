# A build-time tool: phrasebook runs it (BDEPEND) to generate C code.
EAPI=8

DESCRIPTION="Generates a C phrase table from a text file"
SRC_URI="http://127.0.0.1:9/distfiles/${P}.tar.gz"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"
RESTRICT="mirror"

src_compile() {
	emake CC="${CC:-gcc}" CFLAGS="${CFLAGS}" LDFLAGS="${LDFLAGS}"
}

src_install() {
	emake DESTDIR="${D}" PREFIX="${EPREFIX}/usr" install
}
