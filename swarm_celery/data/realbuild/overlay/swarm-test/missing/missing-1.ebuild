# Its distfile is in the Manifest but nowhere to be had: DISTDIR lacks it and the URI refuses connections.
EAPI=8

DESCRIPTION="A distfile that cannot be fetched"
SRC_URI="http://127.0.0.1:9/distfiles/${P}.tar.gz"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"
RESTRICT="mirror"

src_install() {
	dodoc README
}
