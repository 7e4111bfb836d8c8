"""The real builder: ``emerge`` builds one package the way a Gentoo admin would, and its binpkg is the artifact.

Dependencies come from the swarm binhost as binary packages; the target is always built
from source (:mod:`swarm_celery.domain.emerge_cmd` says why for every flag). The build log
streams to ``<logs>/<attempt>.log``; the build is refused when the drone is short of disk,
stopped at its timeout or when the task is revoked, and its failure is classified by the
coordinator from the log tail this builder reports.

A prefix drone (:mod:`.prefix`) builds in its private EPREFIX with the plan's own configuration,
or refuses the attempt when it cannot reproduce it. A binary package emerge fetched in the
background and could not get shows only in ``<EPREFIX>/var/log/emerge-fetch.log``: the tail of
that log is added to a failed build's report.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.emerge_cmd import EmergeConfig, emerge_argv, emerge_environment
from swarm_celery.domain.model import BuildRequest
from swarm_celery.drone.builders import BuildOutput
from swarm_celery.drone.identity import disk_free_mb
from swarm_celery.drone.prefix import ConfigSource, EmergePrefix
from swarm_celery.drone.process import run_logged
from swarm_celery.errors import BuildFailed

FETCH_LOG_LINES = 20  # of emerge-fetch.log added to a failed build's report


class EmergeBuilder:
    simulated = False

    def __init__(self, config: EmergeConfig, logs: Path, *, timeout: float, min_free_mb: int, tmpdir: Path,
                 emerge: str = "emerge", environ: Mapping[str, str] | None = None, kill_grace: float = 10.0,
                 run_dir: Path | None = None, prefix: tuple[EmergePrefix, ConfigSource] | None = None) -> None:
        self.config = config
        self.logs = logs
        self.timeout = timeout
        self.min_free_mb = min_free_mb
        self.tmpdir = tmpdir  # PORTAGE_TMPDIR: where the build happens
        self.emerge = emerge
        self.environ = dict(os.environ if environ is None else environ)
        self.kill_grace = kill_grace
        self.run_dir = run_dir  # <run_dir>/<attempt>.pgid while a build runs (drone.process.reap_orphans)
        self.prefix = prefix  # a prefix drone: where it builds, and where it gets each plan's configuration

    def log_path(self, request: BuildRequest) -> Path:
        return self.logs / f"{request.attempt_id}.log"

    def build(self, request: BuildRequest, staging: Path) -> BuildOutput:
        try:
            argv = emerge_argv(request.cpv, request.repo, self.emerge)
        except ValueError as exc:
            raise BuildFailed(f"build-swarm: refusing to build: {exc}") from None
        self._check_disk()
        env = emerge_environment(self.environ, self.config)
        if self.prefix is not None:
            prefix, source = self.prefix
            env = prefix.env(prefix.prepare(request.config_hash, source)) | {k: v for k, v in env.items() if k != "PATH"}
        started = time.time()
        pidfile = self.run_dir / f"{request.attempt_id}.pgid" if self.run_dir else None
        run = run_logged(argv, env, self.log_path(request), self.timeout, self.kill_grace, pidfile)
        if run.timed_out:
            raise BuildFailed(f"timed out after {self.timeout:.0f} s", run.tail)
        if run.exit_code != 0:
            raise BuildFailed(f"emerge exited with status {run.exit_code}", run.tail + self._fetch_log(started), run.exit_code)
        binpkg = find_binpkg(Path(self.config.pkgdir), request.cpv, since=started)
        if binpkg is None:
            raise BuildFailed("no binary package", run.tail + (
                f"\nbuild-swarm: no binary package: emerge exited 0 but wrote no {request.cpv} GPKG under {self.config.pkgdir} "
                "(is buildpkg disabled for it in package.env, or BINPKG_FORMAT overridden?)"))
        staging.mkdir(parents=True, exist_ok=True)
        artifact = staging / binpkg.name
        shutil.copyfile(binpkg, artifact)  # the drone's PKGDIR and its Packages index stay as portage left them
        digest, size = _sha256(artifact)
        return BuildOutput(artifact=artifact, sha256=digest, size=size, log_tail=run.tail, build_seconds=run.seconds)

    def _fetch_log(self, since: float) -> str:
        """The end of ``<EPREFIX>/var/log/emerge-fetch.log`` when this build wrote to it (a binary package fetch failed there)."""
        fetch_log = Path(self.environ.get("PORTAGE_OVERRIDE_EPREFIX", "") or "/") / "var" / "log" / "emerge-fetch.log"
        if self.prefix is not None:
            fetch_log = self.prefix[0].root / "var" / "log" / "emerge-fetch.log"
        try:
            if fetch_log.stat().st_mtime < since:
                return ""
            lines = fetch_log.read_text(errors="replace").splitlines()[-FETCH_LOG_LINES:]
        except OSError:
            return ""
        return f"\nbuild-swarm: the end of {fetch_log}:\n" + "\n".join(lines)

    def _check_disk(self) -> None:
        for path in (self.tmpdir, Path(self.config.pkgdir)):
            free = disk_free_mb(path)
            if free < self.min_free_mb:
                line = (f"build-swarm: not enough free disk: {free} MiB free under {path}, this drone needs {self.min_free_mb} MiB "
                        "(free space, or lower SWARM_MIN_FREE_MB)")
                raise BuildFailed("not enough free disk", line)


def find_binpkg(pkgdir: Path, cpv: str, since: float) -> Path | None:
    """The GPKG emerge wrote for ``cpv`` at or after ``since``: ``cat/pn/pf-BUILD_ID.gpkg.tar`` (binpkg-multi-instance,
    portage's default) or ``cat/pf.gpkg.tar``; the newest when there are several."""
    parsed = split_cpv(cpv)
    multi = re.compile(re.escape(parsed.pf) + r"-\d+\.gpkg\.tar")
    folder = pkgdir / parsed.category / parsed.package
    candidates = [p for p in folder.iterdir() if multi.fullmatch(p.name)] if folder.is_dir() else []
    single = pkgdir / parsed.category / f"{parsed.pf}.gpkg.tar"
    if single.is_file():
        candidates.append(single)
    fresh = [(p.stat().st_mtime, p) for p in candidates if p.is_file() and p.stat().st_mtime >= since - 1.0]
    return max(fresh)[1] if fresh else None


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


__all__ = ["EmergeBuilder", "find_binpkg"]
