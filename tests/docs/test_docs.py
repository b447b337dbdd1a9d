"""The documentation site builds strictly and documents every public name."""

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / 'docs' / 'api'


def _api_modules() -> list[str]:
    found = []
    for page in sorted(API.glob('*.md')):
        found += re.findall(r'^::: (rtsgeo[\w.]*)$', page.read_text(), re.M)
    return found


def _public_modules() -> list[str]:
    """Every subpackage and top-level module of rtsgeo not starting with '_'."""
    package = ROOT / 'rtsgeo'
    names = []
    for path in sorted(package.iterdir()):
        if path.name.startswith('_') or path.name in {'cli', 'configs'}:
            continue
        if path.is_dir() and (path / '__init__.py').exists():
            names.append(f'rtsgeo.{path.name}')
        elif path.suffix == '.py':
            names.append(f'rtsgeo.{path.stem}')
    return names


def test_every_public_module_has_an_api_page() -> None:
    missing = set(_public_modules()) - set(_api_modules())
    assert not missing, f'add a docs/api page with "::: NAME" for {sorted(missing)}'


@pytest.mark.parametrize('module_name', _public_modules())
def test_public_names_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__, f'{module_name} has no module docstring'
    names = getattr(module, '__all__', None)
    assert names, f'{module_name} does not list its public names in __all__'
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f'{module_name}.{name} has no docstring'


def test_site_builds_strictly_and_renders_every_public_name(tmp_path: Path) -> None:
    if shutil.which('mkdocs') is None and importlib.util.find_spec('mkdocs') is None:
        pytest.skip('mkdocs is not installed: pip install -e ".[dev]"')
    site = tmp_path / 'site'
    result = subprocess.run(
        [sys.executable, '-m', 'mkdocs', 'build', '--strict', '-q', '-d', str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html = ''.join(p.read_text() for p in (site / 'api').rglob('*.html'))
    for module_name in _public_modules():
        for name in importlib.import_module(module_name).__all__:
            assert f'id="{module_name}.{name}"' in html, f'{module_name}.{name}'


def test_training_page_lists_the_small_object_options() -> None:
    import yaml

    from rtsgeo.models import SMALL_OBJECT_OPTIONS

    page = (ROOT / 'docs' / 'training.md').read_text()
    section = page[page.index('## Small objects') :]
    block = re.search(r'```yaml\n(.*?)```', section, re.S)
    assert block is not None
    options = yaml.safe_load(block.group(1))['model']['init_args']['model_options']
    expected = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in SMALL_OBJECT_OPTIONS.items()
    }
    assert options == expected
