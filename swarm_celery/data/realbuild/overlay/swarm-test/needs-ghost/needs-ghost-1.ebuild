# Depends on a package no repository has: emerge cannot resolve it.
EAPI=8

DESCRIPTION="Needs a package that does not exist"
S="${WORKDIR}"

LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"

RDEPEND="swarm-test/ghost"

src_install() {
	newbin - needs-ghost <<-EOF
		#!/bin/sh
		echo needs-ghost
	EOF
}
