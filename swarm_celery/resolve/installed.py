"""An explicit baseline as installed-package records: each listed CPV's ebuild metadata, with the given SLOT and USE.

Runs only inside the resolver subprocess (:mod:`swarm_celery.resolve.runner`), after
``PORTAGE_OVERRIDE_EPREFIX`` points portage at the private root. The records are what
:func:`swarm_celery.resolve.portage_graph.vdb_record` gives for the default ``@system`` baseline,
so both kinds are written to the private root's vdb the same way.
"""

from __future__ import annotations

from typing import Any

from _emerge.Package import Package

from swarm_celery.domain.baseline import InstalledPackage
from swarm_celery.resolve.portage_graph import Trees, vdb_record
from swarm_celery.resolve.problems import RunnerError


def ebuild_package(trees: Trees, cpv: str, repo: str) -> Any:
    """The ebuild ``cpv`` as portage's Package (its USE computed for the profile and package.use), from ``repo`` or
    the highest-priority repository holding it; None when no repository does."""
    portdb = trees.portdb
    repos = [repo] if repo else list(reversed(portdb.repositories.prepos_order))
    for name in repos:
        if name in portdb.getRepositories() and portdb.cpv_exists(cpv, myrepo=name):
            metadata = dict(zip(Package.metadata_keys, portdb.aux_get(cpv, Package.metadata_keys, myrepo=name), strict=True))
            metadata["repository"] = name
            root_config = trees.trees[trees.eroot]["root_config"]
            return Package(built=False, cpv=cpv, installed=False, metadata=metadata, root_config=root_config, type_name="ebuild")
    return None


def explicit_records(trees: Trees, packages: tuple[InstalledPackage, ...]) -> list[dict[str, str]]:
    """vdb records of the listed packages; a RunnerError naming the first one no repository has."""
    records = []
    for installed in packages:
        pkg = ebuild_package(trees, installed.cpv, installed.repo)
        if pkg is None:
            where = f"::{installed.repo}" if installed.repo else f"any repository ({', '.join(trees.portdb.getRepositories())})"
            raise RunnerError("baseline", f"the baseline lists {installed.cpv}, which is not in {where}: "
                              "fix its version or add the overlay holding it with --repo", installed.cpv)
        record = vdb_record(pkg)
        if installed.slot and installed.slot != record["SLOT"].partition("/")[0]:
            record["SLOT"] = installed.slot  # a bare "3.12" keeps the ebuild's sub-slot
        if installed.use is not None:
            record["USE"] = " ".join(installed.use)
        records.append(record)
    return records
