# The PDEPEND of greet-suite, which it needs at run time itself (the cycle PDEPEND exists to break).
EAPI=8

DESCRIPTION="Runs the greet suite twice"
S="${WORKDIR}"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"

RDEPEND="swarm-test/greet-suite"

src_install() {
	newbin - greet-twice <<-EOF
		#!/bin/sh
		"${EPREFIX}/usr/bin/greet-suite" && "${EPREFIX}/usr/bin/greet-suite"
	EOF
}
