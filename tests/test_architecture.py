"""The package graph is one-way: every import of an engagegen package points down the layer order.

The layers follow the README's flow ``network -> engagement -> reward <- scoring <- generation ->
training -> experiments -> report`` read as "is used by" (an arrow points from a package to the
packages that import it), with the second-seed uses placed where their imports put them:

====  ===================================================  ==============================================
 0    errors                                               the base error, imported by everything
 1    memory, files, html_page                             low-level helpers (memory checks, the file
                                                           policy, self-contained HTML pages)
 2    config                                               typed configs from YAML
 3    network, generation                                  the two sources: who listens, what is said
 4    engagement, scoring                                  how the network engages; what a text says
 5    reward, recommend, calibration, analysis             uses of engagement and scoring: the reward,
                                                           feeds as engagement models, fitting engagement
                                                           models to cascades, analysis of posts/networks
 6    interaction                                          replies and chat (a reply reward over a feed's
                                                           or a thread's audience)
 7    training                                             a run config turned into a trained policy
 8    experiments                                          grids of runs, baselines, comparisons
 9    report                                               HTML reports of runs, grids, calibrations
10    engagegen (the package's own ``__init__``)           the public surface: may re-export anything
11    cli                                                  the ``engagegen`` command
12    __main__                                             ``python -m engagegen``, on top
====  ===================================================  ==============================================

A module may import its own package and packages of lower layers; packages on one layer are
independent of each other. All imports count, including those inside functions (a function-local
import still makes the package depend on the other one). The test also rejects import cycles
between modules, and every package must be placed in a layer.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import engagegen

ROOT = Path(engagegen.__file__).parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("memory", "files", "html_page"),
    ("config",),
    ("network", "generation"),
    ("engagement", "scoring"),
    ("reward", "recommend", "calibration", "analysis"),
    ("interaction",),
    ("training",),
    ("experiments",),
    ("report",),
    ("engagegen",),
    ("cli",),
    ("__main__",),
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    line: int
    target: str  # the imported engagegen module, dotted


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> list[Import]:
    return imports_in(path.read_text(encoding="utf-8"), _module_name(path), is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import of an engagegen module in ``source`` (the text of ``module``), at any depth:
    inside functions, branches and ``if TYPE_CHECKING:`` blocks too."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from engagegen import scoring` imports the submodule engagegen.scoring
            targets = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        found += [Import(module, node.lineno, t) for t in dict.fromkeys(targets) if t.split(".")[0] == "engagegen"]
    return sorted(found, key=lambda imp: imp.line)


def _owner(dotted: str) -> str:
    """The layer entry a module belongs to: its subpackage or base module, or ``engagegen`` for the package itself."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "engagegen"


def all_imports() -> list[Import]:
    return [imp for path in sorted(ROOT.rglob("*.py")) for imp in _imports(path)]


def upward_imports(imports: list[Import]) -> list[str]:
    """One line per import that points up the layer order or sideways to a package of the same layer."""
    problems = []
    for imp in imports:
        source, target = _owner(imp.module), _owner(imp.target)
        if source == target:
            continue
        if LAYER_OF[target] >= LAYER_OF[source]:
            where = "up to" if LAYER_OF[target] > LAYER_OF[source] else "sideways to"
            problems.append(f"{imp.module}:{imp.line} imports {imp.target}: {where} layer {LAYER_OF[target]} "
                            f"({target}) from layer {LAYER_OF[source]} ({source})")
    return problems


def module_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.target != imp.module:
            graph.setdefault(imp.module, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_every_package_and_base_module_has_a_layer() -> None:
    present = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    present |= {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert not present - set(LAYER_OF), f"place these in LAYERS (tests/test_architecture.py): {sorted(present - set(LAYER_OF))}"


def test_imports_point_down_the_layers() -> None:
    problems = upward_imports(all_imports())
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_module_import_cycles() -> None:
    cycles = module_cycles(all_imports())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_check_sees_function_local_and_relative_imports() -> None:
    source = "def f():\n    from engagegen.training import RunConfig\n\nfrom ..reward import RewardConfig\n"
    problems = upward_imports(imports_in(source, "engagegen.network.probe"))
    assert [p.split(" imports ")[0] for p in problems] == ["engagegen.network.probe:2", "engagegen.network.probe:4"]
    assert "up to layer 7 (training) from layer 3 (network)" in problems[0]
    assert "engagegen.reward" in problems[1]


def test_the_check_finds_a_cycle() -> None:
    imports = [Import("engagegen.a", 1, "engagegen.b"), Import("engagegen.b", 5, "engagegen.a"),
               Import("engagegen.b", 6, "engagegen.c")]
    assert module_cycles(imports) == [["engagegen.a", "engagegen.b"]]
