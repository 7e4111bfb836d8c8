"""Explicit baselines: `qlist -IRv`-like text or JSON into installed packages, and their place in the ResolveRequest."""

from __future__ import annotations

import dataclasses
import json

import pytest

from swarm_celery.domain.baseline import InstalledPackage, parse_baseline
from swarm_celery.domain.config import ResolveRequest, _digest

QLIST = """\
# qlist -IRv, then qlist -ISSRv with USE= added
sys-libs/zlib-1.3.1-r1::gentoo

dev-lang/python-3.12.8_p1:3.12/3.12::gentoo USE="ssl sqlite -tk readline"
app-misc/tmux-3.5a:0 USE=""
app-editors/vim-9.1.0866   # no repository: the highest-priority one holding it
"""

REQUEST = ResolveRequest(repos=("/r/gentoo",), gentoo_profile="default/linux/amd64/23.0/systemd", arch="amd64", world=("app-misc/tmux",))


def test_qlist_text_with_optional_slot_repo_and_use() -> None:
    packages = [e.package for e in parse_baseline(QLIST)]
    assert packages == [
        InstalledPackage("sys-libs/zlib-1.3.1-r1", repo="gentoo"),
        InstalledPackage("dev-lang/python-3.12.8_p1", slot="3.12/3.12", repo="gentoo", use=("readline", "sqlite", "ssl")),
        InstalledPackage("app-misc/tmux-3.5a", slot="0", use=()),
        InstalledPackage("app-editors/vim-9.1.0866"),
    ]
    assert [e.where for e in parse_baseline(QLIST)] == ["line 2", "line 4", "line 5", "line 6"]


def test_json_gives_the_same_packages_as_text() -> None:
    text = 'sys-libs/zlib-1.3.1-r1:0/1::gentoo USE="minizip"\napp-misc/tmux-3.5a\n'
    data = [{"cpv": "sys-libs/zlib-1.3.1-r1", "slot": "0/1", "repo": "gentoo", "use": ["minizip"]}, {"cpv": "app-misc/tmux-3.5a"}]
    from_text = [e.package for e in parse_baseline(text)]
    assert [e.package for e in parse_baseline(json.dumps(data, indent=2))] == from_text
    assert [e.where for e in parse_baseline(json.dumps(data))] == ["entry #1", "entry #2"]


@pytest.mark.parametrize(("text", "message"), [
    ("sys-libs/zlib-1.3.1\nnot a package line\n",
     "line 2: cannot read 'not a package line'; write one installed package per line as `qlist -IRv` prints it: "
     'category/package-version[:slot][::repo] [USE="flags"]'),
    ("sys-libs/zlib::gentoo\n", "line 1: 'sys-libs/zlib' is not category/package-version (e.g. sys-libs/zlib-1.3.1-r1)"),
    ('\n\nsys-libs/zlib-1.3.1 USE="ok b@d!"\n', "line 3: 'b@d!' is not a USE flag; list the enabled flags separated by spaces"),
    ("sys-libs/zlib-1.3.1:0/1/2\n", "line 1: '0/1/2' is not a SLOT (e.g. 0 or 3.12/3.12)"),
    ("sys-libs/zlib-1.3.1\napp-misc/tmux-3.5a\nsys-libs/zlib-1.3.1::gentoo\n",
     "line 3: sys-libs/zlib-1.3.1 is listed twice (first at line 1); keep one"),
    ("# nothing\n\n", "it lists no installed package; write one installed package per line as `qlist -IRv` prints it: "
                      'category/package-version[:slot][::repo] [USE="flags"]'),
    ('[{"cpv": "sys-libs/zlib-1.3.1"},\n {"slot": "0"}]',
     'entry #2: no "cpv" string; write a JSON list of {"cpv": ..., "slot": ..., "repo": ..., "use": [...]} objects (only cpv is required)'),
    ('[{"cpv": "sys-libs/zlib-1.3.1", "use": "minizip"}]',
     'entry #1: "use" must be a list of flag names; write a JSON list of {"cpv": ..., "slot": ..., "repo": ..., "use": [...]} '
     "objects (only cpv is required)"),
    ('[{"cpv": "sys-libs/zlib-1.3.1"},\n oops]',
     'line 2: not JSON (Expecting value); write a JSON list of {"cpv": ..., "slot": ..., "repo": ..., "use": [...]} objects '
     "(only cpv is required)"),
])
def test_bad_baseline_names_the_line_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_baseline(text)
    assert str(info.value) == message


def test_request_without_baseline_keeps_its_hashes_and_old_json_loads() -> None:
    old = {"repos": ["/r/gentoo"], "profile": REQUEST.gentoo_profile, "arch": "amd64", "world": ["app-misc/tmux"]}  # no "baseline" key
    assert ResolveRequest.from_json(old) == REQUEST
    assert REQUEST.baseline_hash() == _digest({"repos": REQUEST.repos, "profile": REQUEST.gentoo_profile, "arch": "amd64", "config": ()})


def test_explicit_baseline_enters_both_hashes_and_round_trips() -> None:
    explicit = dataclasses.replace(REQUEST, baseline=tuple(e.package for e in parse_baseline(QLIST)))
    assert ResolveRequest.from_json(json.loads(json.dumps(explicit.to_json()))) == explicit
    assert explicit.baseline_hash() != REQUEST.baseline_hash() and explicit.config_hash() != REQUEST.config_hash()
    other_use = dataclasses.replace(explicit, baseline=(dataclasses.replace(explicit.baseline[0], use=("minizip",)), *explicit.baseline[1:]))
    assert other_use.baseline_hash() != explicit.baseline_hash()
