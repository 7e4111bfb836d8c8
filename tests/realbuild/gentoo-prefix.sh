#!/usr/bin/env bash
# A private EPREFIX on the real Gentoo 23.0 profile, to build one ::gentoo dev-python ebuild with real emerge.
# Usage: tests/realbuild/gentoo-prefix.sh EPREFIX PYTHON_VENV [category/package-version ...]
#   PYTHON_VENV: a Python 3.12 venv holding the build backends (gpep517, setuptools, installer, flit_core);
#   each category/package-version is listed in package.provided (the host provides it, portage builds nothing for it).
# See tests/realbuild/GENTOO-EBUILD.md for the whole recipe and what it takes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VENV=${VENV:-$repo/.venv}  # build-swarm's venv: portage 3.0.83 from PyPI
GENTOO=${GENTOO:-${SWARM_TEST_SHARED:-$repo/../shared}/gentoo/repo}
P=${1:?EPREFIX}
PY=${2:?a Python 3.12 venv with gpep517, setuptools, installer, flit_core}
shift 2
rm -rf "$P"
mkdir -p "$P"/etc/portage/{repos.conf,profile} "$P"/var/{db/pkg,lib/portage,cache/edb,cache/distfiles,cache/binpkgs,tmp} \
  "$P"/usr/bin "$P"/share/portage "$P"/usr/lib/swarm-test-kit/bin "$P"/root
cp -r "$VENV"/share/portage/config "$P"/share/portage/config
printf '[DEFAULT]\nmain-repo = gentoo\n\n[gentoo]\nlocation = %s\n' "$GENTOO" > "$P"/share/portage/config/repos.conf
cp "$P"/share/portage/config/repos.conf "$P"/etc/portage/repos.conf/gentoo.conf
ln -s "$GENTOO"/profiles/default/linux/amd64/23.0 "$P"/etc/portage/make.profile
ln -s /usr/bin/tar "$P"/usr/lib/swarm-test-kit/bin/gtar  # the same place as tests/realbuild/kit.py's Prefix.tools
if command -v scanelf >/dev/null; then ln -s "$(command -v scanelf)" "$P"/usr/bin/scanelf; fi
cat > "$P"/etc/portage/make.conf <<EOC
FEATURES="-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox -userpriv -usersync -userfetch -news binpkg-multi-instance"
PORTAGE_USERNAME="root"
PORTAGE_GRPNAME="root"
ACCEPT_LICENSE="*"
BINPKG_FORMAT="gpkg"
PORTAGE_TRUST_HELPER=""
GENTOO_MIRRORS=""
DISTDIR="$P/var/cache/distfiles"
PKGDIR="$P/var/cache/binpkgs"
PORTAGE_TMPDIR="$P/var/tmp"
PYTHON_TARGETS="python3_12"
PYTHON_SINGLE_TARGET="python3_12"
USE="-test -doc"
EOC
printf '%s\n' dev-lang/python-3.12.1 dev-python/gpep517-19 dev-python/setuptools-84.2.1 dev-python/installer-1.1.0 \
  dev-python/flit-core-3.12.0 "$@" > "$P"/etc/portage/profile/package.provided
printf '#!/bin/sh\nexec %s/bin/python3.12 "$@"\n' "$PY" > "$P"/usr/bin/python3.12  # distutils-r1 runs python3.12 by name
chmod 0755 "$P"/usr/bin/python3.12
echo "PORTAGE_OVERRIDE_EPREFIX=$P PATH=$P/usr/lib/swarm-test-kit/bin:$P/usr/bin:$VENV/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=$P/root NOCOLOR=true"
