"""The dependency rules of the layout (docs/architecture.md, "The parties").

crypto/ imports nothing from schemas/ or tally_service/, schemas/ nothing from tally_service/,
so the observer's verifier (which imports nothing from tally_service/ either) can stand on them
alone. Inside tally_service/, each party's package imports only crypto/, schemas/, the shared
helpers (common/) and itself: what a guardian runs on its machine is tally_service/guardian/
and nothing of the service's, and an auditor can read one party's program as one folder."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent


def imported_modules(path: Path, with_names: bool = False) -> set[str]:
    """Every module a file imports (lazy ones and those for type checking too); ``with_names``
    adds ``package.name`` for each ``from package import name``, which may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if with_names:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("crypto", ("tally_service", "schemas", "flask", "sqlite3", "requests")),
     ("schemas", ("tally_service", "flask", "sqlite3", "requests")),
     # the observer's verifier, a package (scripts.verifier) since issue 13; tests/test_verify.py
     # also holds it and the two entry scripts to the standard library, crypto, schemas, tqdm
     ("scripts/verifier", ("tally_service", "flask", "sqlite3", "requests"))],
)
def test_package_does_not_import(package: str, forbidden: tuple[str, ...]) -> None:
    files = sorted((TOP / package).rglob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert name.split(".")[0] not in forbidden, f"{path.relative_to(TOP)} imports {name}"


def test_crypto_does_no_io() -> None:
    for path in sorted((TOP / "crypto").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for call in ("open(", "Path(", "os.environ", "print("):
            # as a name of its own: ``ceremony_fingerprint(`` is not ``print(``
            found = re.search(rf"(?<!\w){re.escape(call)}", source)
            assert found is None, f"{path.relative_to(TOP)} uses {call}"


PARTIES = ("service", "commission", "guardian", "witness", "elector", "credential_authority")
SHARED = ("common",)


def _project_imports(path: Path) -> set[str]:
    """The project's own modules a file imports: every ``import``, at the top or inside a
    function, under ``TYPE_CHECKING`` too."""
    return {
        name
        for name in imported_modules(path)
        if name.split(".")[0] in ("tally_service", "scripts", "tests")
    }


def _package_of(path: Path) -> str:
    parts = path.relative_to(TOP / "tally_service").parts
    return parts[0] if len(parts) > 1 else ""


@pytest.mark.parametrize("party", PARTIES + SHARED)
def test_a_party_imports_only_the_core_the_shared_helpers_and_itself(party: str) -> None:
    files = sorted((TOP / "tally_service" / party).rglob("*.py"))
    assert files, f"tally_service/{party}/ is missing"
    allowed = {f"tally_service.{party}", "tally_service.common"}
    for path in files:
        for name in _project_imports(path):
            package = ".".join(name.split(".")[:2])
            assert package in allowed, (
                f"{path.relative_to(TOP)} imports {name}: a party's package may import only "
                "crypto/, schemas/, tally_service/common/ and itself"
            )


def test_every_module_of_the_product_belongs_to_a_party() -> None:
    """No module of tally_service/ sits outside a party's package but the program's entry
    (cli.py puts every party's commands together; __main__.py runs it)."""
    loose = {
        path.name for path in (TOP / "tally_service").glob("*.py")
    } - {"__init__.py", "__main__.py", "cli.py"}
    assert not loose, f"modules outside any party's package: {sorted(loose)}"
    packages = {p.name for p in (TOP / "tally_service").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(PARTIES + SHARED), packages


def test_the_programs_entry_imports_each_party_only_when_its_command_runs() -> None:
    """cli.py names the parties' command modules as strings for importlib (so that a guardian's
    command loads nothing of the service's) and imports only the shared helpers itself."""
    entry = TOP / "tally_service" / "cli.py"
    for name in _project_imports(entry):
        assert name.startswith(("tally_service.common.", "tally_service.guardian.cli",
                                "tally_service.witness.cli")), f"cli.py imports {name}"
    source = entry.read_text(encoding="utf-8")
    # the modules cli.py hands to importlib: run("...", ...) and its SERVICE/COMMISSION names
    named = set(re.findall(r'(?:run\(|= )"(tally_service\.[\w.]+)"', source))
    assert named, "cli.py names no party's command module"
    for module in named:
        party = module.split(".")[1]
        assert party in PARTIES and module.endswith(".cli"), module


def test_the_product_does_not_import_the_demo_builders_or_the_tests() -> None:
    for path in sorted((TOP / "tally_service").rglob("*.py")):
        for name in _project_imports(path):
            assert name.split(".")[0] == "tally_service", f"{path.relative_to(TOP)} imports {name}"


@pytest.mark.parametrize(
    ("command", "party"),
    [(["guardian", "watch", "--state", "{tmp}/state", "--url", "http://127.0.0.1:9", "--once"],
      "guardian"),
     (["witness", "serve", "--key", "{tmp}/no.key", "--state", "{tmp}/w", "--logs", "{tmp}/l"],
      "witness"),
     (["vote", "--url", "http://127.0.0.1:9", "--unit", "U", "--elector", "E", "--key",
       "{tmp}/no.pem", "--choice", "blank", "--out", "{tmp}/receipt.json"], "elector"),
     (["credentials", "--roll", "{tmp}/no.csv", "--election-id", "e", "--out", "{tmp}/c"],
      "credential_authority"),
     (["turnout", "--url", "http://127.0.0.1:9"], "commission")],
)
def test_a_partys_command_loads_no_other_partys_code(
    command: list[str], party: str, tmp_path: Path
) -> None:
    """What runs on a guardian's (witness's, elector's, ...) machine: the program's entry, the
    shared helpers and that party's package, nothing of the service's. Each command runs until
    it fails on its missing file or unreachable service, its imports done."""
    import subprocess
    import sys

    argv = [part.replace("{tmp}", str(tmp_path)) for part in command]
    script = (
        "import sys\n"
        "from tally_service.cli import main\n"
        f"code = main({argv!r})\n"
        "print(code, ' '.join(m for m in sys.modules if m.startswith('tally_service.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=TOP, timeout=60
    )
    code, *loaded = done.stdout.split()
    assert code != "0", done.stderr  # it ran its handler, and failed where it should
    assert f"tally_service.{party}.cli" in loaded or party == "witness", loaded
    # the entry's one parser knows every party's commands: the guardian's and the witness's
    # command modules define their arguments and import their work only when it runs
    others = [
        m for m in loaded
        if m.split(".")[1] not in (party, "common", "cli")
        and m not in ("tally_service.guardian", "tally_service.guardian.cli",
                      "tally_service.witness", "tally_service.witness.cli")
    ]
    assert not others, f"tally-service {' '.join(command[:2])} loads {others}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(TOP).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_the_product_has_no_import_circle() -> None:
    """No module of tally_service/ reaches itself through its imports (lazy ones and those for
    type checking included): each concept can be read, tested and replaced from the bottom up.
    The circles election <-> witnessing and store <-> store_pg were broken in issue 27."""
    files = sorted((TOP / "tally_service").rglob("*.py"))
    paths = {_module_name(path): path for path in files}
    packages = {name for name, path in paths.items() if path.name == "__init__.py"}
    graph = {
        name: imported_modules(path, with_names=True) & set(paths) - packages - {name}
        for name, path in paths.items()
    }
    assert graph["tally_service.service.election"], "the import graph is empty: the test is broken"
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        trail.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circle = [*trail[trail.index(target):], target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        trail.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


# the shared HTTP client of the service, and what it imports
HTTP_CLIENT = ("client.py", "answers.py")
HTTP = {"requests", "urllib3"}
# distributions whose import names differ from their names
IMPORT_NAMES = {"psycopg": ("psycopg", "psycopg_pool")}
# the extras a party's program is installed with (pyproject.toml); the service also runs on
# PostgreSQL (the `postgresql` extra)
EXTRAS = {
    "service": ("service", "postgresql"),
    "commission": ("commission",),
    "guardian": ("guardian",),
    "witness": ("witness",),
    "elector": ("elector",),
    "credential_authority": (),
    "common": (),
}


def _importable(requirements: list[str]) -> set[str]:
    names: set[str] = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name is not None, requirement
        dist = name.group(0).lower().replace("-", "_")
        names.update(IMPORT_NAMES.get(dist, (dist,)))
    return names


@pytest.mark.parametrize("party", PARTIES + SHARED)
def test_a_party_needs_only_the_base_and_its_own_extra(party: str) -> None:
    """A guardian's machine installs kz-tally[guardian], a witness's kz-tally[witness]: neither
    gets the service's web stack. So a party's package imports no third-party module beyond
    the base dependencies and its extra; the shared helpers none beyond the base, but
    ``requests`` in the HTTP client every party that talks to the service has."""
    project = tomllib.loads((TOP / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    allowed = _importable(project["dependencies"])
    for extra in EXTRAS[party]:
        allowed |= _importable(extras[extra])
    allowed |= {"tally_service", "crypto", "schemas"} | set(sys.stdlib_module_names)
    for path in sorted((TOP / "tally_service" / party).rglob("*.py")):
        imported = imported_modules(path)
        used = {name.split(".")[0] for name in imported}
        if {f"tally_service.common.{name[:-3]}" for name in HTTP_CLIENT} & imported:
            used.add("requests")
        if party == "common" and path.name in HTTP_CLIENT:
            used -= HTTP  # each party that uses the client has requests in its extra
        if "requests" in allowed:
            allowed |= HTTP  # urllib3 comes with requests (the client reads its exceptions)
        assert used <= allowed, (
            f"{path.relative_to(TOP)} imports {sorted(used - allowed)}, which the "
            f"{party!r} install does not have: add it to the party's extra in pyproject.toml"
        )
