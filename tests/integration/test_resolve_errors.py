"""Resolve errors worth reading: each failure of real portage is one line naming the package, the world atom
behind it and the fix portage's autounmask suggests; `build-swarm resolve` prints it and exits non-zero."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.errors import ResolveError
from swarm_celery.resolve.adapter import PortageResolver
from tests.integration.demo_kit import cli_env, run_cli
from tests.integration.overlay_kit import synthetic_request
from tests.integration.test_resolver import medium_request

MASKED = {"app-misc/masked-1": {}}
TESTING = {"app-misc/testing-1": {"KEYWORDS": "~amd64"}}


@dataclass(frozen=True)
class Case:
    overlay: dict[str, dict[str, str]]
    world: tuple[str, ...]
    kind: str
    atom: str
    message: str
    files: dict[str, str] = field(default_factory=dict)  # /etc/portage file name → content


CASES = {
    "world atom masked by package.mask": Case(
        MASKED, ("app-misc/masked",), "masked", "app-misc/masked",
        'app-misc/masked-1::fixture is masked by your package.mask (world atom app-misc/masked): '
        'add "=app-misc/masked-1" to package.unmask', {"package.mask": "app-misc/masked\n"}),
    "world atom keyworded ~amd64 only": Case(
        TESTING, ("app-misc/testing",), "keywords", "app-misc/testing",
        'app-misc/testing-1::fixture is keyworded ~amd64 only (world atom app-misc/testing): '
        'add "=app-misc/testing-1 ~amd64" to package.accept_keywords'),
    "world atom without any keyword": Case(
        {"app-misc/nokw-1": {"KEYWORDS": ""}}, ("app-misc/nokw",), "keywords", "app-misc/nokw",
        'app-misc/nokw-1::fixture has no amd64 keyword (world atom app-misc/nokw): '
        'add "=app-misc/nokw-1 **" to package.accept_keywords'),
    "keyword-masked dependency two levels down": Case(
        {"app-misc/top-1": {"RDEPEND": "app-misc/middle"}, "app-misc/middle-1": {"RDEPEND": "app-misc/testing"}, **TESTING},
        ("app-misc/top",), "keywords", "app-misc/top",
        'app-misc/testing-1::fixture is keyworded ~amd64 only (required by app-misc/middle-1::fixture (app-misc/testing) '
        '← app-misc/top-1::fixture (app-misc/middle), world atom app-misc/top): '
        'add "=app-misc/testing-1 ~amd64" to package.accept_keywords'),
    "masked dependency": Case(
        {"app-misc/top-1": {"RDEPEND": "app-misc/masked"}, **MASKED}, ("app-misc/top",), "masked", "app-misc/top",
        'app-misc/masked-1::fixture is masked by your package.mask (required by app-misc/top-1::fixture (app-misc/masked), '
        'world atom app-misc/top): add "=app-misc/masked-1" to package.unmask', {"package.mask": "app-misc/masked\n"}),
    "license not accepted": Case(
        {"app-misc/closed-1": {"LICENSE": "all-rights-reserved"}}, ("app-misc/closed",), "license", "app-misc/closed",
        'app-misc/closed-1::fixture has a license you do not accept (world atom app-misc/closed): '
        'add ">=app-misc/closed-1 all-rights-reserved" to package.license'),
    "USE dependency not satisfied": Case(
        {"app-misc/top-1": {"RDEPEND": "app-misc/lib[foo]"}, "app-misc/lib-1": {"IUSE": "foo"}}, ("app-misc/top",), "use",
        "app-misc/top",
        'app-misc/lib-1::fixture needs USE="foo" (required by app-misc/top-1::fixture (app-misc/lib[foo]), '
        'world atom app-misc/top): add ">=app-misc/lib-1 foo" to package.use'),
    "REQUIRED_USE of a world package": Case(
        {"app-misc/ru-1": {"IUSE": "alpha beta", "REQUIRED_USE": "|| ( alpha beta )"}}, ("app-misc/ru",), "required_use",
        "app-misc/ru",
        'app-misc/ru-1::fixture violates its REQUIRED_USE "any-of ( alpha beta )" (world atom app-misc/ru): '
        'add ">=app-misc/ru-1 alpha" to package.use'),
    "REQUIRED_USE of a dependency": Case(
        {"app-misc/top-1": {"RDEPEND": "app-misc/ru"}, "app-misc/ru-1": {"IUSE": "+alpha beta", "REQUIRED_USE": "alpha? ( beta )"}},
        ("app-misc/top",), "required_use", "app-misc/top",
        'app-misc/ru-1::fixture violates its REQUIRED_USE "alpha? ( beta )" (required by app-misc/top-1::fixture '
        '(app-misc/ru), world atom app-misc/top): add ">=app-misc/ru-1 -alpha" to package.use'),
    "blocker between two world packages": Case(
        {"app-misc/one-1": {"RDEPEND": "!app-misc/two"}, "app-misc/two-1": {}}, ("app-misc/one", "app-misc/two"), "blocker",
        "app-misc/one",
        'app-misc/one-1::fixture blocks app-misc/two-1::fixture (!app-misc/two), and both are wanted '
        '(world atoms app-misc/one and app-misc/two): they cannot be installed together; '
        'remove app-misc/two or app-misc/one from the world'),
    "slot conflict": Case(
        {"app-misc/a-1": {"RDEPEND": "=app-misc/lib-1"}, "app-misc/b-1": {"RDEPEND": "=app-misc/lib-2"},
         "app-misc/lib-1": {}, "app-misc/lib-2": {}}, ("app-misc/a", "app-misc/b"), "slot_conflict", "app-misc/a",
        'slot conflict on app-misc/lib:0: only one of app-misc/lib-1::fixture (required by app-misc/a-1::fixture '
        '(=app-misc/lib-1), world atom app-misc/a) and app-misc/lib-2::fixture (required by app-misc/b-1::fixture '
        '(=app-misc/lib-2), world atom app-misc/b) can be installed: add "=app-misc/lib-1" to package.mask '
        'if the rest accept the other version, or remove one of the world atoms app-misc/a, app-misc/b'),
    "dependency no ebuild provides": Case(
        {"app-misc/top-1": {"RDEPEND": "app-misc/nowhere"}}, ("app-misc/top",), "unsatisfiable", "app-misc/top",
        "app-misc/top-1::fixture depends on app-misc/nowhere, which no ebuild in the repositories satisfies "
        "(world atom app-misc/top): add the repository that provides it with --repo, or remove app-misc/top from the world"),
}


def case_request(tmp_path: Path, case: Case) -> ResolveRequest:
    """The synthetic world plus the case's atoms, over its overlay, with its /etc/portage files."""
    config = tmp_path / "config-a"
    config.mkdir(exist_ok=True)
    for file_name, content in case.files.items():
        (config / file_name).write_text(content)
    return synthetic_request(tmp_path, overlay=case.overlay, extra_world=case.world)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_resolve_error_is_one_line_with_portage_s_fix(portage_cache: Path, tmp_path: Path, case: Case) -> None:
    with pytest.raises(ResolveError) as info:
        PortageResolver(portage_cache).resolve(case_request(tmp_path, case))
    assert (info.value.kind, info.value.atom) == (case.kind, case.atom)
    assert str(info.value) == case.message
    assert info.value.details, "portage's full output is kept for --debug"


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_cli_prints_the_error_and_exits_non_zero(portage_cache: Path, tmp_path: Path, case: Case) -> None:
    request = case_request(tmp_path, case)
    world = tmp_path / "world"
    world.write_text("".join(f"{atom}\n" for atom in request.world))
    repos = [arg for repo in request.repos for arg in ("--repo", repo)]
    run = run_cli(["resolve", *repos, "--world", str(world), "--portage-config", request.portage_config],
                  cli_env(tmp_path / "home", portage_cache))
    assert run.code == 2
    assert run.stderr == f"error: {case.message}\n"
    assert run.stdout == ""


@pytest.mark.parametrize(("atom", "kind", "message"), [
    (">=dev-lang/tcl-9", "masked",
     'dev-lang/tcl-9.0.3-r2::gentoo is masked by {repo}/profiles/package.mask (Need more testing) (world atom >=dev-lang/tcl-9): '
     'add "=dev-lang/tcl-9.0.3-r2" to package.unmask'),
    ("=app-crypt/pinentry-1.3.3", "keywords",
     'app-crypt/pinentry-1.3.3::gentoo is keyworded ~amd64 only (world atom =app-crypt/pinentry-1.3.3): '
     'add "=app-crypt/pinentry-1.3.3 ~amd64" to package.accept_keywords'),
])
def test_masked_world_atoms_on_the_gentoo_tree(shared: Path, portage_cache: Path, atom: str, kind: str, message: str) -> None:
    with pytest.raises(ResolveError) as info:
        PortageResolver(portage_cache).resolve(medium_request(shared, ("app-misc/tmux", atom)))
    assert (info.value.kind, info.value.atom) == (kind, atom)
    assert str(info.value) == message.format(repo=shared / "gentoo" / "repo")


def test_demo_session_fails_with_the_message_and_records_nothing(portage_cache: Path, tmp_path: Path) -> None:
    case = CASES["keyword-masked dependency two levels down"]
    request = case_request(tmp_path, case)
    world = tmp_path / "world"
    world.write_text("".join(f"{atom}\n" for atom in request.world))
    repos = [arg for repo in request.repos for arg in ("--repo", repo)]
    env = cli_env(tmp_path / "home", portage_cache)
    run = run_cli(["demo", *repos, "--world", str(world), "--portage-config", request.portage_config, "--drones", "1", "--json"], env)
    assert (run.code, run.stdout, run.stderr) == (2, "", f"error: {case.message}\n")
    status = run_cli(["status", "--json"], env).json()
    assert status["state"] == "failed" and status["planned"] == 0
    assert not (tmp_path / "home" / "binhost").exists()
