"""Reading a user-mode profile's machine over SSH (fleet.machine): the answer decoded in memory, as the local reader
would read the same files, and every broken answer a one-line ConfigError."""

from __future__ import annotations

import base64
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from swarm_celery.errors import ConfigError
from swarm_celery.fleet.machine import MAX_BYTES, decode, read_command
from swarm_celery.resolve.inputs import read_config_dir

FILES = {
    "var/lib/portage/world": "app-misc/tmux\napp-editors/vim\n",
    "etc/portage/make.conf": 'USE="-X"\n',
    "etc/portage/package.use/20-vim": "app-editors/vim python\n",
    "etc/portage/package.use/10-tmux": "app-misc/tmux -vim-syntax\n",
    "etc/portage/package.use/.hidden": "ignored\n",
    "etc/portage/package.use/nested/deeper": "ignored too\n",
    "etc/portage/package.accept_keywords": "app-misc/tmux ~amd64\n",
    "etc/portage/repos.conf": "not the resolver's\n",
    "var/lib/portage/world_sets": "not the world\n",
}


def archive(files: dict[str, bytes | str]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, body in files.items():
            data = body.encode() if isinstance(body, str) else body
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.encodebytes(buffer.getvalue()).decode()  # wrapped at 76 columns, as base64(1) prints it


def test_the_answer_reads_like_the_same_files_read_locally(tmp_path: Path) -> None:
    for name, body in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    found = decode(archive(dict(FILES)), "machine lap")
    assert found.world == FILES["var/lib/portage/world"]
    assert found.files == read_config_dir(tmp_path / "etc/portage")
    assert dict(found.files)["package.use"] == "app-misc/tmux -vim-syntax\n\napp-editors/vim python\n"  # name order


def test_no_world_is_none_not_an_error() -> None:
    assert decode(archive({"etc/portage/make.conf": "X=1\n"}), "machine lap").world is None


@pytest.mark.parametrize(("answer", "message"), [
    ("Welcome to laptop!\n", "machine lap: its answer is not the archive asked for (does its shell print a banner or lack tar "
                             "and base64?)"),
    (base64.b64encode(b"not a tar at all" * 100).decode(), "machine lap: its answer is not a readable archive"),
    (archive({"etc/portage/make.conf": b"\xff\xfe"}), "machine lap: etc/portage/make.conf is not text (UTF-8): fix or remove it "
                                                     "on the machine"),
])
def test_a_broken_answer_is_one_line(answer: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        decode(answer, "machine lap")
    assert str(caught.value).startswith(message)


def test_an_oversized_answer_is_refused_before_it_is_read() -> None:
    with pytest.raises(ConfigError, match=r"over 16 MiB: check what etc/portage/package.\* holds there"):
        decode(base64.b64encode(b"\0" * (MAX_BYTES + 1)).decode(), "machine lap")


def test_the_command_quotes_the_root_and_asks_only_for_what_the_resolver_reads() -> None:
    command = read_command("/srv/my laptop")
    assert command.startswith("cd '/srv/my laptop' 2>/dev/null || exit 3; ")
    assert "var/lib/portage/world etc/portage/make.conf etc/portage/package.use" in command
    assert command.endswith("| tar -chf - -T - | head -c 16777217 | base64")


def test_the_command_leaves_out_what_links_out_of_the_machine_root(tmp_path: Path) -> None:
    """Run for real: a package.use file that is a symlink to a file outside the root never reaches the archive."""
    root = tmp_path / "machine"
    (root / "var/lib/portage").mkdir(parents=True)
    (root / "etc/portage/package.use").mkdir(parents=True)
    (root / "var/lib/portage/world").write_text("app-misc/tmux\n")
    (root / "etc/portage/package.use/ok").write_text("app-misc/tmux debug\n")
    (tmp_path / "secret").write_text("root:$6$hash:19000::::::\n")
    (root / "etc/portage/package.use/evil").symlink_to(tmp_path / "secret")
    (root / "etc/portage/make.conf").symlink_to(root / "etc/portage/package.use/ok")  # a link that stays inside is taken
    out = subprocess.run(["sh", "-c", read_command(str(root))], capture_output=True, text=True, check=True, timeout=30).stdout
    found = decode(out, "test")
    assert found.world == "app-misc/tmux\n"
    assert dict(found.files) == {"make.conf": "app-misc/tmux debug\n", "package.use": "app-misc/tmux debug\n"}
