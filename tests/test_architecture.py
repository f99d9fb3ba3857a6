"""The layering of docs/architecture.md, read from the source with `ast`: every engine module sits in one layer and
imports only from its own layer or below, the engine never imports the commands, the use cases (training, simulate,
benchmark, evaluation, study) sit side by side over the shared engine and never import each other, the shared engine
imports no use case, and a command module loads nothing heavy when it is imported."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fluidloss_cli"
USE_CASES = ("training", "simulate", "benchmark", "evaluation", "study")
"""The use cases of the engine: `fluidloss_cli.engine.<name>` (a module or a package)."""
HEAVY = ("torch", "phi", "phiml", "matplotlib", "h5py")
LAYERS = {
    1: ("errors", "resolution", "atomic", "outputs", "lock", "provenance", "notice", "memo", "device", "solvers",
        "defaults", "interrupt", "metric_facts", "verdicts", "loss_names", "model_names", "plugins", "ranges", "task_options",
        "results", "command_line", "paths", "capacity"),
    2: ("fields", "physics", "phiflow_grids", "upsample", "phiflow_setup", "phiflow_patch", "cosine_poisson",
        "phiflow_projection", "frontier"),
    3: ("scenes", "native"),
    4: ("data",),
    5: ("losses", "models", "weights", "metrics"),
    6: ("correction", "checkpoints"),
    7: ("pipeline",),
    8: ("training", "simulate", "evaluation", "benchmark", "study", "render"),
}
"""docs/architecture.md's table: layer -> the engine's top-level modules and packages in it (a package's modules
share its layer)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(module: str, top_level_only: bool = False) -> set[str]:
    """Every module `module` imports (absolute names; `from X import y` counts X.y when it is a module of ours).
    `top_level_only`: what runs on import, leaving out function bodies and `if TYPE_CHECKING:` blocks."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if top_level_only and isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([child.module] if child.module else []))
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in child.names if f"{base}.{alias.name}" in MODULES)
            visit(child)

    visit(ast.parse(path.read_text()))
    return names


def use_case(module: str) -> str | None:
    """The use case a module of the engine belongs to, or None for the shared engine."""
    for name in USE_CASES:
        if module == f"fluidloss_cli.engine.{name}" or module.startswith(f"fluidloss_cli.engine.{name}."):
            return name
    return None


def layer(module: str) -> int | None:
    """The layer of an engine module (0: the `fluidloss_cli.engine` package itself), None outside the engine or for
    a module no layer names."""
    parts = module.split(".")
    if parts[:2] != ["fluidloss_cli", "engine"]:
        return None
    if len(parts) == 2:
        return 0
    return next((number for number, names in LAYERS.items() if parts[2] in names), None)


ENGINE = sorted(m for m in MODULES if m.startswith("fluidloss_cli.engine"))
COMMANDS = sorted(m for m in MODULES if m.startswith("fluidloss_cli.commands."))


def test_the_layers_are_found():
    """The checks below see the modules they are about (none of them can pass on an empty tree)."""
    assert {use_case(m) for m in ENGINE} == {None, *USE_CASES}
    assert "fluidloss_cli.engine.pipeline" in ENGINE and "fluidloss_cli.commands.train" in COMMANDS
    assert "fluidloss_cli.engine.pipeline" in imported("fluidloss_cli.engine.simulate")
    assert {layer(m) for m in ENGINE} == {0, *LAYERS}
    assert "fluidloss_cli.engine.fields" in imported("fluidloss_cli.engine.metrics")


def test_the_layer_table_names_modules_that_exist():
    names = {m.split(".")[2] for m in ENGINE if m.count(".") >= 2}
    listed = [name for names_ in LAYERS.values() for name in names_]
    assert len(listed) == len(set(listed)), "a module is in two layers"
    assert set(listed) <= names, f"no such engine modules: {sorted(set(listed) - names)}"


def test_every_engine_module_has_a_layer():
    """A new module is placed in docs/architecture.md's table (and LAYERS) before it can be checked."""
    missing = [module for module in ENGINE if layer(module) is None]
    assert not missing, f"{missing} in no layer: add them to LAYERS and docs/architecture.md"


def test_engine_modules_import_their_own_layer_or_below():
    """E.g. `metrics` (learning, 5) takes `Frame` from `fields` (2), never from `correction` (6)."""
    wrong = [f"{module} (layer {layer(module)}) imports {n} (layer {layer(n)})" for module in ENGINE
             for n in sorted(imported(module))
             if layer(n) is not None and layer(module) is not None and layer(n) > layer(module)]
    assert not wrong, "\n".join(wrong)


def test_the_engine_never_imports_the_commands_or_the_app():
    wrong = [f"{module} imports {n}" for module in ENGINE for n in imported(module)
             if n.startswith(("fluidloss_cli.commands", "fluidloss_cli.app"))]
    assert not wrong, "\n".join(wrong)


def test_use_cases_import_downward_only():
    """A use case imports the shared engine and itself; the shared engine imports no use case."""
    wrong = [f"{module} ({use_case(module) or 'shared engine'}) imports {n}" for module in ENGINE
             for n in imported(module) if use_case(n) not in (None, use_case(module))]
    assert not wrong, "\n".join(wrong)


def closure(module: str) -> set[str]:
    """What importing `module` imports, transitively through our modules and the packages around them."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parts = current.split(".")
        todo += [p for p in (".".join(parts[:k]) for k in range(1, len(parts))) if p in MODULES]
        found = imported(current, top_level_only=True)
        todo += [n for n in found if n in MODULES]
        seen |= {n for n in found if n not in MODULES}
    return seen


def test_command_modules_load_nothing_heavy_on_import():
    """`fluidloss --help` stays fast: the heavy libraries are imported inside the commands, when they run."""
    heavy = {module: sorted({n for n in closure(module) if n.split(".")[0] in HEAVY}) for module in COMMANDS}
    assert not any(heavy.values()), {module: loads for module, loads in heavy.items() if loads}


def test_no_module_is_over_300_lines():
    """Small modules with one job: a module that grows past 300 lines is split before it lands."""
    sizes = {module: len(path.read_text().splitlines()) for module, path in MODULES.items()}
    assert not {module: n for module, n in sizes.items() if n > 300}, "split these modules"
