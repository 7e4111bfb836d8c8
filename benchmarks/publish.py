"""Benchmark: what verifying, signing and uploading cost per published package, against plain publishing.

Same GPKGs (``--image-kib`` of incompressible image each), same
machine, same run; printed as milliseconds per package and the ratio to the baseline:

* baseline — ``BinhostPublisher.publish_many`` of a batch from a local staging directory
  (sha256, GPKG structure and Manifest, metadata check, copy, one ``Packages`` rewrite);
* signed   — the same with a signing key (three ``gpg`` runs per package: two detached
  signatures, one clear-signed Manifest);
* uploaded — each GPKG PUT to a live API over loopback HTTP first (drone token, streamed,
  hashed), then published from the upload area.

    .venv/bin/python benchmarks/publish.py [--packages 40] [--image-kib 512]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg  # noqa: E402
from swarm_celery.binhost.publisher import BinhostPublisher  # noqa: E402
from swarm_celery.binhost.signing import GpgSigner  # noqa: E402
from swarm_celery.domain.model import PackageState  # noqa: E402
from swarm_celery.domain.records import PackageInfo  # noqa: E402
from swarm_celery.drone.upload import HttpUploader  # noqa: E402
from tests.integration.api_kit import api_world  # noqa: E402

PACKAGE = PackageInfo(1, "s", "app-misc/pkg0-1.0", "0", "0", "gentoo", (), 0, PackageState.BUILDING, "a" * 32)


def artifacts(folder: Path, count: int, image_kib: int) -> list[tuple[Path, str, PackageInfo]]:
    out = []
    for i in range(count):
        cpv = f"app-misc/pkg{i}-1.0"
        meta = BinpkgMetadata(cpv=cpv, slot="0", repo="gentoo", arch="amd64", use=(), build_time=1_700_000_000, build_id=1)
        (folder / str(i)).mkdir(parents=True)
        data = random.Random(i).randbytes(image_kib * 1024)  # incompressible, like the binaries in a real image
        path = write_gpkg(folder / str(i), meta, {f"usr/share/pkg{i}/data": data})
        out.append((path, hashlib.sha256(path.read_bytes()).hexdigest(), replace(PACKAGE, id=i + 1, cpv=cpv)))
    return out


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--image-kib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bsp", dir="/tmp"))
    try:
        home = work / "gnupg"
        home.mkdir(mode=0o700)
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                        "bench <bench@localhost>", "ed25519", "sign", "never"], check=True, capture_output=True)
        signer = GpgSigner(home, GpgSigner(home, "bench <bench@localhost>").fingerprint())
        items = artifacts(work / "staging", args.packages, args.image_kib)
        results: dict[str, list[float]] = {"baseline": [], "signed": [], "uploaded": []}
        for n in range(args.rounds):
            results["baseline"].append(timed(lambda: BinhostPublisher(work / f"plain{n}").publish_many("amd64", items, True)))  # noqa: B023
            results["signed"].append(timed(lambda: BinhostPublisher(work / f"signed{n}", signer=signer).publish_many("amd64", items, True)))  # noqa: B023
            results["uploaded"].append(upload_then_publish(work / f"api{n}", items))
        base = statistics.median(results["baseline"])
        print(f"{args.packages} packages of ~{args.image_kib} KiB image, median of {args.rounds} rounds")
        for name, runs in results.items():
            per = statistics.median(runs) / args.packages * 1000
            print(f"  {name:<9} {per:8.1f} ms/package   ratio {statistics.median(runs) / base:5.2f}")
    finally:
        subprocess.run(["gpgconf", "--homedir", str(work / "gnupg"), "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def upload_then_publish(home: Path, items: list[tuple[Path, str, PackageInfo]]) -> float:
    """PUT every GPKG to a live API (as the drone the first attempt went to), then publish them from the upload area."""
    home.mkdir(parents=True)
    with api_world(home) as world:
        request, drone = world.build(0)
        uploader = HttpUploader(world.url, world.tokens[drone], tries=1)
        publisher = BinhostPublisher(home / "tree", home / "uploads")
        refs: list[tuple[Path, str, PackageInfo]] = []
        start = time.perf_counter()
        for path, sha, package in items:
            named = path.parent / path.name  # the same file; its attempt is the world's first dispatched one
            refs.append((Path(uploader.artifact(request.attempt_id, named, sha)), sha, package))
            publisher.publish_many("amd64", [refs[-1]], True)
        return time.perf_counter() - start


if __name__ == "__main__":
    main()
