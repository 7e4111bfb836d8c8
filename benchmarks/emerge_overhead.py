"""Benchmark: the swarm's overhead per real build, against a plain ``emerge --buildpkg`` of the same package in the same prefix.

One prefix laid out by ``build-swarm prefix init`` on the shipped overlay, plus a benchmark package,
``swarm-test/busywork-1``, whose src_compile runs gcc -O2 on a generated C file (``--functions`` of them:
the build's length). Interleaved, ``--runs`` times each, in the same run:

* plain — ``emerge --oneshot --buildpkg=y =swarm-test/busywork-1`` with the prefix's own configuration, as an
  admin would build it;
* swarm — what the swarm does for the same build: the drone's runner (the plan's configuration fetched and laid out
  as the build's PORTAGE_CONFIGROOT, the swarm's command line with its binhost from a local HTTP server, the
  log streamed, the GPKG found, copied to staging and hashed, the report), then the coordinator's publication
  (verified, signed, indexed).

Interleaved, each going first every other run, same MAKEOPTS. Printed: each run's seconds, the medians and their
ratio (the target: at most 1.10 for builds of 5 s or more).

    .venv/bin/python benchmarks/emerge_overhead.py [--runs 5] [--functions 1500]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm_celery.binhost.publisher import BinhostPublisher  # noqa: E402
from swarm_celery.binhost.signing import GpgSigner  # noqa: E402
from swarm_celery.domain.build_config import BuildConfig  # noqa: E402
from swarm_celery.domain.emerge_cmd import EmergeConfig, prefix_environment  # noqa: E402
from swarm_celery.domain.model import BuildRequest, BuildResult, PackageState  # noqa: E402
from swarm_celery.domain.records import PackageInfo  # noqa: E402
from swarm_celery.drone.emerge import EmergeBuilder  # noqa: E402
from swarm_celery.drone.prefix import EmergePrefix, SharedConfigs  # noqa: E402
from swarm_celery.drone.prefix_init import init_prefix  # noqa: E402
from swarm_celery.drone.runner import DroneRunner  # noqa: E402
from swarm_celery.local import overlay  # noqa: E402

EMERGE = Path(sys.executable).with_name("emerge")
MAKEOPTS = "-j2 -l2"  # what the swarm's command sets for 2 cores and 1 slot: both builds make alike
CPV = "swarm-test/busywork-1"
ENVIRON = {"PATH": f"{EMERGE.parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
EBUILD = """EAPI=8
DESCRIPTION="Benchmark load: gcc -O2 on a generated C file"
S="${WORKDIR}"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64"

src_compile() {
	local i
	{
		for ((i = 0; i < FUNCTIONS; i++)); do
			echo "double f${i}(double x) { double s = 0; for (int k = 1; k < 64; k++) s += (x * k + ${i}) / (k + x * x); return s; }"
		done
		echo "int main(void) { return 0; }"
	} > busywork.c
	${CC:-gcc} ${CFLAGS} -c busywork.c -o busywork.o || die
	${CC:-gcc} ${LDFLAGS} busywork.o -o busywork || die
}

src_install() {
	dobin busywork
}
"""


class Reports:
    """The drone's reporter, keeping what it would send to the coordinator."""

    def __init__(self) -> None:
        self.results: list[BuildResult] = []

    def started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        pass

    def finished(self, result: BuildResult, urgency: int = 5) -> None:
        self.results.append(result)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def setup(base: Path, functions: int) -> tuple[EmergePrefix, BuildConfig, Path]:
    tree = overlay.make_overlay(base / "overlay", str(EMERGE))
    (tree / "swarm-test" / "busywork").mkdir()
    (tree / "swarm-test" / "busywork" / "busywork-1.ebuild").write_text(EBUILD)
    root = base / "prefix"
    init_prefix(root, [tree], overlay.PROFILE, make_conf=['GENTOO_MIRRORS=""', 'ACCEPT_LICENSE="*"'])
    config = BuildConfig.of("amd64", overlay.PROFILE, (overlay.REPO_NAME,),
                            (("make.conf", f'ACCEPT_LICENSE="*"\nFUNCTIONS="{functions}"\n'),))
    configs = base / "configs"
    configs.mkdir()
    (configs / f"{config.digest()}.json").write_text(json.dumps(config.to_json()))
    return EmergePrefix(root, "amd64", str(EMERGE), ENVIRON), config, configs


def plain(prefix: EmergePrefix, functions: int) -> float:
    start = time.perf_counter()
    run = subprocess.run([str(EMERGE), "--oneshot", "--buildpkg=y", "--color=n", "--nospinner", f"={CPV}"],
                         env=prefix_environment(ENVIRON, str(prefix.root)) | {"FEATURES": "binpkg-multi-instance", "MAKEOPTS": MAKEOPTS,
                                                                              "FUNCTIONS": str(functions)},
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"plain emerge failed:\n{run.stdout[-3000:]}")
    return time.perf_counter() - start


def swarm(runner: DroneRunner, publisher: BinhostPublisher, config: BuildConfig, n: int) -> float:
    request = BuildRequest(f"bench{n:04d}", "bench", CPV, "amd64", "0", overlay.REPO_NAME, (), config_hash=config.digest())
    start = time.perf_counter()
    result = runner.build(request)
    if not result.artifact_path:
        raise SystemExit(f"the swarm build failed:\n{result.log_tail[-3000:]}")
    package = PackageInfo(n, "bench", CPV, "0", "0", overlay.REPO_NAME, (), 0, PackageState.BUILDING, request.attempt_id)
    publisher.publish("amd64", Path(result.artifact_path), result.sha256, package, simulated_ok=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--functions", type=int, default=1500, help="generated C functions: how long the build compiles")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="eo", dir="/tmp"))
    try:
        prefix, config, configs = setup(base, args.functions)
        info = prefix.check()
        signer = GpgSigner.create(base / "gnupg", "bench <bench@localhost>")
        publisher = BinhostPublisher(base / "binhost", signer=signer)
        (base / "binhost" / "amd64").mkdir(parents=True)
        with serve(base / "binhost") as url:
            builder = EmergeBuilder(EmergeConfig(f"{url}/amd64", str(info.pkgdir), cores=2, slots=1), base / "logs", timeout=3600,
                                    min_free_mb=64, tmpdir=info.tmpdir, emerge=str(EMERGE), environ=ENVIRON,
                                    prefix=(prefix, SharedConfigs(configs)))
            runner = DroneRunner("bench", builder, base / "staging", Reports())
            plain(prefix, args.functions)  # warm: the first emerge in a prefix walks profiles/updates, the first build lays the config out
            swarm(runner, publisher, config, 0)
            times: dict[str, list[float]] = {"plain": [], "swarm": []}
            for n in range(1, args.runs + 1):  # interleaved, each going first every other run
                order = ("plain", "swarm") if n % 2 else ("swarm", "plain")
                for which in order:
                    times[which].append(plain(prefix, args.functions) if which == "plain" else swarm(runner, publisher, config, n))
                print(f"run {n}: plain {times['plain'][-1]:6.2f} s   swarm {times['swarm'][-1]:6.2f} s", flush=True)
        medians = {k: statistics.median(v) for k, v in times.items()}
        ratio = medians["swarm"] / medians["plain"]
        print(f"median of {args.runs}: plain emerge --buildpkg {medians['plain']:.2f} s, swarm build + publication "
              f"{medians['swarm']:.2f} s: ratio {ratio:.3f} ({'within' if ratio <= 1.10 else 'OVER'} 1.10; "
              f"builds {'of' if medians['plain'] >= 5 else 'SHORTER than'} 5 s)")
    finally:
        subprocess.run(["gpgconf", "--homedir", str(base / "gnupg"), "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
