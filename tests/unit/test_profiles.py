"""Build profiles (validation) and tree snapshots (fingerprint, when one is due, what is pruned): the pure rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swarm_celery.domain.profiles import BuildProfile, Mode
from swarm_celery.domain.snapshots import Snapshot, fingerprint, to_prune, tree_changed

DIST = BuildProfile("desktop", Mode.DISTRIBUTION, "amd64", "default/linux/amd64/23.0/systemd", ("/repos/gentoo",),
                    world=("app-editors/vim",))
USER = BuildProfile("laptop", Mode.USER, "arm64", "default/linux/arm64/23.0", ("/repos/gentoo",), machine_root="/mnt/laptop")


def test_valid_profiles_pass_and_round_trip_through_json() -> None:
    for profile in (DIST, USER, replace(DIST, auto_rebuild=True, portage_config="/etc/swarm/desktop", description="x")):
        assert profile.validated() == profile
        assert BuildProfile.from_json(profile.to_json()) == profile


@pytest.mark.parametrize(("profile", "message"), [
    (replace(DIST, name="Desk Top"), "profile name 'Desk Top' is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', "
                                     "starting with a letter or digit"),
    (replace(DIST, arch="riscv"), "arch 'riscv' is not supported: use one of amd64, arm64"),
    (replace(DIST, repos=()), "a profile needs at least one repository: pass --repo PATH (the main tree first)"),
    (replace(DIST, gentoo_profile=""), "a profile needs a Gentoo profile: pass --gentoo-profile (e.g. default/linux/amd64/23.0/systemd)"),
    (replace(DIST, world=()), "a distribution profile needs its world: pass --atom ATOM (repeatable) or --world FILE"),
    (replace(DIST, world=("vim; rm -rf /",)), "'vim; rm -rf /' is not a package atom: expected category/package, e.g. "
                                              "app-misc/tmux or >=dev-libs/foo-1.2"),
    (replace(DIST, machine_root="/mnt/x"), "a distribution profile keeps its own world: --machine and --machine-host are for user mode "
                                            "(--mode user)"),
    (replace(DIST, machine_host="lap"), "a distribution profile keeps its own world: --machine and --machine-host are for "
                                        "user mode (--mode user)"),
    (replace(USER, machine_root="", machine_host="lap top"), "machine host 'lap top' is not a name of the fleet inventory: "
                                                             "use its [machines.NAME] or [drones.NAME]"),
    (replace(USER, machine_root="mnt/laptop"), "machine root 'mnt/laptop' should be an absolute path"),
    (replace(USER, machine_root=""), "a user profile reads a machine's world and /etc/portage: pass --machine PATH (its root), "
                                      "or --machine-host NAME (a host of the fleet inventory, read over SSH)"),
    (replace(USER, world=("app-misc/tmux",)), "a user profile takes its world and portage configuration from --machine, not "
                                              "from --atom/--world/--portage-config"),
])
def test_each_mistake_is_named_with_its_fix(profile: BuildProfile, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        profile.validated()
    assert str(caught.value) == message


def snap(id_: str, taken: float, print_: str = "f1") -> Snapshot:
    return Snapshot(id_, taken, "/repos/gentoo", print_, id_ * 4, f"/s/{id_}.tar.gz", 10, 2)


def test_the_fingerprint_follows_the_timestamp_and_every_cache_entry_and_nothing_else() -> None:
    entries = [("app-misc/tmux-3.5", 900, 1), ("sys-libs/zlib-1.3", 700, 2)]
    base = fingerprint("Sat, 20 Aug 2026 00:00:00 +0000", entries)
    assert base == fingerprint("Sat, 20 Aug 2026 00:00:00 +0000\n", list(reversed(entries)))  # order and newline do not count
    assert base != fingerprint("Sun, 21 Aug 2026 00:00:00 +0000", entries)
    assert base != fingerprint("Sat, 20 Aug 2026 00:00:00 +0000", [entries[0], ("sys-libs/zlib-1.3", 701, 2)])
    assert base != fingerprint("Sat, 20 Aug 2026 00:00:00 +0000", [entries[0], ("sys-libs/zlib-1.3", 700, 3)])
    assert base != fingerprint("Sat, 20 Aug 2026 00:00:00 +0000", entries[:1])


def test_a_snapshot_is_due_for_a_new_tree_or_a_changed_fingerprint_only() -> None:
    assert tree_changed("f1", []) == "first snapshot of this tree"
    assert tree_changed("f1", [snap("a", 1.0, "f0"), snap("b", 2.0, "f1")]) == ""
    assert tree_changed("f2", [snap("a", 1.0, "f0"), snap("b", 2.0, "f1")]) == "the tree changed since snapshot b"


def test_pruning_keeps_the_newest_and_always_one() -> None:
    snaps = [snap("a", 1.0), snap("c", 3.0), snap("b", 2.0)]
    assert [s.id for s in to_prune(snaps, 2)] == ["a"]
    assert [s.id for s in to_prune(snaps, 0)] == ["b", "a"]
    assert to_prune(snaps, 10) == []
