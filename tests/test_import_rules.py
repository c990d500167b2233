"""Who may import whom: oceanconnect/ is a package of its own, the simulator stands alone.

- oceanconnect/ imports no Django and nothing of the project (nor the simulator), and
  importing it loads no Django module;
- simulator/ imports neither oceanconnect nor the project (it plays the real platform), and
  the project imports nothing of the simulator (each is written from the platform's docs);
- views, forms, URL confs, template tags and the push endpoint never import oceanconnect: they
  call services and selectors, which speak to the platform.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"devices", "iotadmin", "audit", "bulk", "reports"}
RULES = {
    "oceanconnect": {"django", "simulator", *PROJECT},
    "simulator": {"oceanconnect", "django", *PROJECT},
}


def imported_roots(path: Path) -> set[str]:
    """The top-level names of every absolute import in the file (relative ones stay inside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


# Modules that translate HTTP (or templates) and must go through services and selectors.
HTTP_LAYER = ("views*.py", "forms*.py", "urls*.py", "push.py", "templatetags/*.py")


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_what_it_may(package):
    files = sorted((REPO_ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offences = []
    for path in files:
        forbidden = imported_roots(path) & RULES[package]
        if forbidden:
            offences.append(f"{path.relative_to(REPO_ROOT)} imports {', '.join(sorted(forbidden))}")
    assert offences == []


@pytest.mark.parametrize("package", sorted(PROJECT))
def test_the_project_imports_nothing_of_the_simulator(package):
    offences = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if "simulator" in imported_roots(path)
    ]
    assert offences == []


def http_layer_files() -> list[Path]:
    return sorted(
        {
            path
            for package in PROJECT
            for pattern in HTTP_LAYER
            for path in (REPO_ROOT / package).rglob(pattern)
        }
    )


def test_the_http_layer_never_imports_oceanconnect():
    files = http_layer_files()
    assert any(path.name == "views.py" for path in files)
    assert any(path.name == "push.py" for path in files)
    offences = [
        str(path.relative_to(REPO_ROOT)) for path in files if "oceanconnect" in imported_roots(path)
    ]
    assert offences == []


def test_the_rule_checker_sees_imports_anywhere_in_a_file(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from . import sibling\n"
        "def f():\n"
        "    import django.conf\n"
        "    from devices.models import Swap\n"
    )
    assert imported_roots(sample) == {"os", "django", "devices"}


def test_importing_oceanconnect_loads_no_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    code = (
        "import oceanconnect, sys; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
