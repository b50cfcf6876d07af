"""The house's rules, checked on the source: data and imports flow one way, one place picks the scheme."""
import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGES = ("musicgen", "train", "evaluate", "publish")


def project_modules() -> dict[str, Path]:
    """Every module of the project by dotted name (app.py included)."""
    modules = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules) -> set[str]:
    """The project modules `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in modules and target != name}
    return found


def test_no_module_imports_in_a_circle():
    modules = project_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}

    def reaches(start, goal, seen):
        for nxt in graph[start]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    circles = sorted(name for name in graph if reaches(name, name, set()) and not name.endswith("__main__"))
    assert not circles, circles


def test_the_library_never_reaches_into_training_evaluation_or_publishing():
    modules = project_modules()
    for name, path in modules.items():
        imported = imports_of(name, path, modules)
        if name.startswith("musicgen"):
            assert not {module for module in imported if module.split(".")[0] in ("train", "evaluate", "publish")}, name
        if name.startswith("train"):
            assert not {module for module in imported if module.split(".")[0] == "evaluate"}, name
        if name.startswith("train") and name != "train.__main__":  # only the command chains --push-to-hub
            assert not {module for module in imported if module.split(".")[0] == "publish"}, name


def test_one_place_picks_the_token_scheme():
    picking = re.compile(r'representation *[!=]= *"(events|frames)"')
    places = [f"{path.relative_to(ROOT)}:{number}" for path in [*project_modules().values(), *(ROOT / "bench").glob("*.py")]
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if picking.search(line)]
    assert len(places) == 1 and places[0].startswith("musicgen/schemes/__init__.py:"), places


def test_no_path_hacks_and_no_readme_sections_cited_from_code():
    path_hack = ".".join(("sys", "path", "insert"))  # spelled apart, so that this file is no match itself
    for path in [*(ROOT / "tests").glob("*.py"), *(ROOT / "bench").glob("*.py")]:
        assert path_hack not in path.read_text(encoding="utf-8"), path
    for path in project_modules().values():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\(README[,)]|README, \"", text), path
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
