# Every greeting program at once: a run-time dependency on each (RDEPEND only). A drone merges what it builds,
# so the swarm builds it once hello, goodbye and phrasebook are published, and the drone takes them as binaries.
EAPI=8

DESCRIPTION="Says every greeting of the swarm-test overlay"
S="${WORKDIR}"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"

RDEPEND="
	swarm-test/hello
	swarm-test/goodbye
	swarm-test/phrasebook
"

src_install() {
	newbin - greetings <<-EOF
		#!/bin/sh
		"${EPREFIX}/usr/bin/hello" && "${EPREFIX}/usr/bin/goodbye" && "${EPREFIX}/usr/bin/phrasebook"
	EOF
}
