# Needs greetgen only to build (BDEPEND): it generates phrases.c in src_compile.
EAPI=8

DESCRIPTION="Prints phrases compiled in from a table greetgen generates"
SRC_URI="http://127.0.0.1:9/distfiles/${P}.tar.gz"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"
RESTRICT="mirror"

BDEPEND="swarm-test/greetgen"

src_compile() {
	emake CC="${CC:-gcc}" CFLAGS="${CFLAGS}" LDFLAGS="${LDFLAGS}" GREETGEN="${BROOT}/usr/bin/greetgen"
}

src_install() {
	emake DESTDIR="${D}" PREFIX="${EPREFIX}/usr" install
}
