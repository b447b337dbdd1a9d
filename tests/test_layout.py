"""The package's layering (docs/ARCHITECTURE decision 13), checked on the source.

The scene side (:mod:`rtsgeo.predict`) never imports the campaign side; the
campaign side reaches the scene side only through :mod:`rtsgeo.predict.protocol`;
nothing outside :mod:`rtsgeo.cli` imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rtsgeo

PACKAGE = Path(rtsgeo.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module *path* imports (at any depth)."""
    name = _module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[: len(base) - node.level + 1]
                module = '.'.join([*base, node.module] if node.module else base)
            else:
                module = node.module or ''
            found.add(module)
            found.update(f'{module}.{alias.name}' for alias in node.names)
    return found


def _sources(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob('*.py'))


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + '.')


def test_module_name_resolves_relative_imports() -> None:
    # The checks below are only as good as the import resolution.
    imports = _imports(PACKAGE / 'campaign' / 'run.py')
    assert 'rtsgeo.predict.protocol' in imports
    assert 'rtsgeo.campaign.store' in imports


@pytest.mark.parametrize('path', _sources('predict'), ids=lambda p: p.name)
def test_predict_never_imports_campaign(path: Path) -> None:
    bad = sorted(n for n in _imports(path) if _under(n, 'rtsgeo.campaign'))
    assert not bad, f'{path} imports {bad}'


@pytest.mark.parametrize('path', _sources('campaign'), ids=lambda p: p.name)
def test_campaign_uses_predict_only_through_protocol(path: Path) -> None:
    used = {n for n in _imports(path) if _under(n, 'rtsgeo.predict')}
    bad = sorted(n for n in used if not _under(n, 'rtsgeo.predict.protocol'))
    assert not bad, f'{path} imports {bad}'


def test_only_the_cli_imports_the_cli() -> None:
    bad = [
        f'{path.relative_to(PACKAGE)}: {name}'
        for path in sorted(PACKAGE.rglob('*.py'))
        if not _under(_module_name(path), 'rtsgeo.cli')
        for name in _imports(path)
        if _under(name, 'rtsgeo.cli')
    ]
    assert not bad


def test_package_is_typed() -> None:
    assert (PACKAGE / 'py.typed').is_file()
