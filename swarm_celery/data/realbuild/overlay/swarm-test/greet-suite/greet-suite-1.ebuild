# Ties the programs together; greet-extras comes after it (PDEPEND), since greet-extras needs it.
EAPI=8

DESCRIPTION="Runs every greeting program of the suite"
S="${WORKDIR}"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"

RDEPEND="
	swarm-test/hello
	swarm-test/goodbye
	swarm-test/phrasebook
"
PDEPEND="swarm-test/greet-extras"

src_install() {
	newbin - greet-suite <<-EOF
		#!/bin/sh
		"${EPREFIX}/usr/bin/hello" && "${EPREFIX}/usr/bin/goodbye" && "${EPREFIX}/usr/bin/phrasebook"
	EOF
}
