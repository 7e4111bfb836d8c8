"""The :class:`~swarm_celery.ports.RemoteShell` and :class:`~swarm_celery.ports.RemoteFiles` ports over SSH with Fabric
(files over SFTP): one connection per command or file.

Only what the inventory names is used: its key (no agent, no ~/.ssh keys, no ~/.ssh/config), and its
known_hosts file — a host key that is not there is refused unless the entry sets ``accept_unknown_host``
(Fabric's own default would accept any). Every failure is a :class:`~swarm_celery.errors.RemoteError`
that says what to check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut

from swarm_celery.domain.fleet import DroneHost
from swarm_celery.errors import RemoteError


class FabricShell:
    def __init__(self, connect_timeout: float = 10.0) -> None:
        self.connect_timeout = connect_timeout

    def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]:
        with self._connection(host, timeout) as connection:
            result = connection.run(command, hide=True, warn=True, timeout=max(1, int(timeout)), in_stream=False)
            return int(result.exited), str(result.stdout), str(result.stderr)

    def upload(self, host: DroneHost, local: str, remote: str, mode: int) -> None:
        """Copy a local file over SFTP to ``remote`` (through a temporary name, renamed when whole), with ``mode``."""
        with open(local, "rb") as source, self._connection(host, 60.0) as connection:
            self._put(connection.sftp(), source.read, remote, mode)

    def write(self, host: DroneHost, data: bytes, remote: str, mode: int) -> None:
        """Write ``data`` to ``remote`` over SFTP; the file has ``mode`` before a byte is in it (a secret is never readable)."""
        chunks = iter([data, b""])
        with self._connection(host, 60.0) as connection:
            self._put(connection.sftp(), lambda _size: next(chunks), remote, mode)

    @staticmethod
    def _put(sftp: paramiko.SFTPClient, read: Callable[[int], bytes], remote: str, mode: int) -> None:
        partial = f"{remote}.partial"
        try:
            target_file = sftp.open(partial, "wb")
        except FileNotFoundError:
            raise RemoteError(f"cannot write {remote}: its directory does not exist there") from None
        with target_file as target:
            target.chmod(mode)
            target.set_pipelined(True)
            while chunk := read(1 << 20):
                target.write(chunk)
        sftp.posix_rename(partial, remote)

    @contextmanager
    def _connection(self, host: DroneHost, timeout: float) -> Iterator[Connection]:
        """A connection to ``host``, closed after; whatever fails becomes one RemoteError that says what to check."""
        where = f"{host.name} ({host.user}@{host.host}:{host.port})"
        connection = self._connect(host, where)
        try:
            yield connection
        except CommandTimedOut:
            raise RemoteError(f"{where}: the command did not finish within {timeout:.0f} s") from None
        except paramiko.AuthenticationException:
            raise RemoteError(f"{where}: SSH refused the key {host.key_file or '(none named)'}: put its public key in "
                              f"{host.user}'s authorized_keys on {host.host}, or fix key_file in the fleet inventory") from None
        except paramiko.BadHostKeyException:
            raise RemoteError(f"{where}: its host key does not match the one in {self._known_hosts(host)}: if the host "
                              "was reinstalled, replace the entry (ssh-keygen -R, then ssh-keyscan)") from None
        except paramiko.SSHException as exc:
            raise RemoteError(self._ssh_problem(host, where, exc)) from None
        except FileNotFoundError as exc:
            raise RemoteError(f"{where}: {exc.filename or exc}: no such file or directory there") from None
        except PermissionError as exc:
            raise RemoteError(f"{where}: permission denied ({exc.filename or exc}): connect as root (user in the fleet inventory)") from None
        except (TimeoutError, OSError, EOFError) as exc:
            raise RemoteError(f"{where}: cannot connect ({exc or type(exc).__name__}): is the host up, sshd running, "
                              "and host/port in the fleet inventory right?") from None
        finally:
            connection.close()

    def _connect(self, host: DroneHost, where: str) -> Connection:
        if host.key_file and not Path(host.key_file).is_file():
            raise RemoteError(f"{where}: key_file {host.key_file} does not exist: fix key_file in the fleet inventory")
        kwargs: dict[str, object] = {"look_for_keys": False, "allow_agent": False, "banner_timeout": self.connect_timeout,
                                     "auth_timeout": self.connect_timeout}
        if host.key_file:
            kwargs["key_filename"] = [host.key_file]
        config = Config(overrides={"load_ssh_configs": False})
        connection = Connection(host.host, user=host.user, port=host.port, config=config, connect_kwargs=kwargs,
                                connect_timeout=max(1, int(self.connect_timeout)))
        client = connection.client
        if host.accept_unknown_host:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            known = self._known_hosts(host)
            if Path(known).is_file():
                client.get_host_keys().load(known)
        return connection

    @staticmethod
    def _known_hosts(host: DroneHost) -> str:
        return host.known_hosts or str(Path("~/.ssh/known_hosts").expanduser())

    def _ssh_problem(self, host: DroneHost, where: str, exc: paramiko.SSHException) -> str:
        text = str(exc)
        if "known_hosts" in text:
            port = f"-p {host.port} " if host.port != 22 else ""
            return (f"{where}: its host key is not in {self._known_hosts(host)}: add it (`ssh-keyscan {port}{host.host} >> "
                    f"{self._known_hosts(host)}`), or set accept_unknown_host = true for it in the fleet inventory")
        return f"{where}: SSH failed ({text or type(exc).__name__}): is sshd running there and host/port right?"
