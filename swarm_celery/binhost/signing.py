"""Sign GPKGs the way portage's ``binpkg-signing`` does, so clients verify them with ``verify-signature = true``.

portage 3.0.83 (``portage/gpkg.py``): every data member (``metadata.tar.*``, ``image.tar.*``) gets an
armored detached signature ``<member>.sig`` right after it, each ``.sig`` gets its own ``DATA``
line in the Manifest, and the Manifest itself is clear-signed; ``gpkg-1`` is not signed. A
client's portage checks each signature with ``gpg --verify`` in ``/etc/portage/gnupg`` and wants
GOODSIG plus full or ultimate trust in the key.

The coordinator signs at publication (the key never leaves it): the drone's GPKG is rewritten
with the swarm's signatures; signatures it already carried are replaced. Members are streamed,
so a large image is never held in memory.
"""

from __future__ import annotations

import functools
import io
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from swarm_celery.binhost.gpkg import GPKG_VERSION, ManifestHasher, member_like, rewriting
from swarm_celery.errors import ArtifactError, ConfigError

_CHUNK = 1 << 20
_SIGNED_TEXT = "-----BEGIN PGP SIGNED MESSAGE-----"


class GpgSigner:
    """``gpg`` with its own home and one secret key (no passphrase: the coordinator signs unattended)."""

    def __init__(self, home: Path, key: str, gpg: str = "gpg") -> None:
        self.home = home
        self.key = key
        self.gpg = gpg

    def _base(self) -> list[str]:
        return [self.gpg, "--homedir", str(self.home), "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]

    @functools.cached_property
    def _fingerprint(self) -> str:
        run = subprocess.run([*self._base(), "--with-colons", "--list-secret-keys", self.key], capture_output=True, text=True,
                             check=False)
        fprs = [line.split(":")[9] for line in run.stdout.splitlines() if line.startswith("fpr:")]
        if run.returncode != 0 or not fprs:
            raise ConfigError(f"no secret key {self.key!r} in {self.home}: create one with `build-swarm binhost keygen`, "
                              "or fix SWARM_SIGNING_KEY / SWARM_GPG_HOME")
        return fprs[0]

    def fingerprint(self) -> str:
        """The key's fingerprint (asked of gpg once); ConfigError when this home holds no such secret key."""
        return self._fingerprint

    @classmethod
    def create(cls, home: Path, uid: str, gpg: str = "gpg") -> GpgSigner:
        """A new signing key (ed25519, no passphrase, never expires) in ``home``; ConfigError with gpg's words if it fails."""
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        signer = cls(home, uid, gpg)
        run = subprocess.run([*signer._base(), "--quick-gen-key", uid, "ed25519", "sign", "never"], capture_output=True, text=True,
                             check=False)
        if run.returncode != 0:
            raise ConfigError(f"gpg could not create the key in {home}: {run.stderr.strip()[-300:]}")
        return signer

    def public_key(self) -> bytes:
        run = subprocess.run([*self._base(), "--armor", "--export", self.key], capture_output=True, check=False)
        if run.returncode != 0 or not run.stdout:
            raise ConfigError(f"cannot export the public key of {self.key!r} from {self.home}: {run.stderr.decode()[-300:]}")
        return run.stdout

    def sign(self, data: IO[bytes], *, detached: bool) -> bytes:
        """An armored detached signature of the stream, or the stream clear-signed (portage's two kinds)."""
        mode = "--detach-sign" if detached else "--clear-sign"
        argv = [*self._base(), "--digest-algo", "SHA512", "--local-user", self.key, "--armor", mode]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        feeder = threading.Thread(target=_feed, args=(data, proc.stdin), daemon=True)  # gpg may write while it reads
        feeder.start()
        out, err = proc.stdout.read() if proc.stdout else b"", proc.stderr.read() if proc.stderr else b""
        feeder.join()
        proc.wait()
        if proc.returncode != 0 or not out:
            raise ArtifactError(f"gpg could not sign with {self.key!r}: {err.decode(errors='replace').strip()[-300:]}")
        return out


def _feed(data: IO[bytes], sink: IO[bytes] | None) -> None:
    assert sink is not None
    try:
        for chunk in iter(lambda: data.read(_CHUNK), b""):
            sink.write(chunk)
    except BrokenPipeError:
        pass  # gpg stopped early: its exit status says why
    finally:
        with suppress(BrokenPipeError):
            sink.close()


def sign_gpkg(path: Path, signer: GpgSigner) -> None:
    """Rewrite ``path`` signed by ``signer`` (atomically: a temporary file beside it, then a rename)."""
    try:
        with tarfile.open(path, "r:") as container, rewriting(path, "signing") as out:
            members = [m for m in container.getmembers() if not m.name.endswith(".sig")]
            prefix = members[0].name.split("/")[0]
            manifest = next((m for m in members if m.name == f"{prefix}/Manifest"), None)
            if manifest is None:
                raise ArtifactError(f"{path.name} has no Manifest to sign")
            lines = [ln for ln in _cleartext(_read(container, manifest)).splitlines() if len(ln.split()) > 1 and not ln.split()[1].endswith(".sig")]
            fmt = tarfile.GNU_FORMAT if len(prefix) >= 154 else tarfile.USTAR_FORMAT
            with tarfile.open(fileobj=out, mode="w", format=fmt) as signed:
                for member in members:
                    if member is manifest:
                        continue
                    signed.addfile(member, container.extractfile(member))
                    if member.name.split("/")[1] == GPKG_VERSION:
                        continue
                    with _member(container, member) as stream:
                        signature = signer.sign(stream, detached=True)
                    name = f"{member.name.split('/')[1]}.sig"
                    signed.addfile(member_like(manifest, f"{prefix}/{name}", len(signature)), io.BytesIO(signature))
                    lines.append(f"DATA {name} {len(signature)} " + " ".join(
                        f"{k} {v}" for k, v in ManifestHasher(signature).hexdigests().items()))
                text = signer.sign(io.BytesIO(("\n".join(lines) + "\n").encode()), detached=False)
                signed.addfile(member_like(manifest, manifest.name, len(text)), io.BytesIO(text))
    except (tarfile.TarError, IndexError, OSError) as exc:
        raise ArtifactError(f"cannot sign {path.name}: {exc}") from None


def _cleartext(text: str) -> str:
    """The signed text of a clear-signed Manifest (dash-escaping undone), or the text as it is."""
    if _SIGNED_TEXT not in text:
        return text
    body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    return body.split("-----BEGIN PGP SIGNATURE-----", 1)[0].replace("\n- ", "\n").removeprefix("- ")


def _read(container: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    with _member(container, member) as stream:
        return stream.read(1 << 20).decode("utf-8", errors="replace")


@contextmanager
def _member(container: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[IO[bytes]]:
    stream = container.extractfile(member)
    if stream is None:
        raise ArtifactError(f"{member.name} is not a regular file")
    try:
        yield stream
    finally:
        stream.close()
