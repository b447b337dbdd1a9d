"""``rtsgeo sensors``: list the sensor presets and the band order of each."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..modalities import SensorPreset

__all__ = ['add_parser', 'format_presets', 'run']


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo sensors``."""
    parser = subparsers.add_parser(
        'sensors',
        help='list the sensor presets and their band orders',
        description=(
            'List the sensor presets that name the bands of files without band '
            'descriptions (pass one as --sensor or sensor=). Band 1 comes first; '
            'NDVI is read from an "ndvi" band when the file has one; a preset with '
            'a quality-mask band applies that mask when mapping.'
        ),
    )
    parser.add_argument(
        '--json', action='store_true', help='print the presets as a JSON list'
    )
    parser.set_defaults(func=run)


def format_presets(presets: Sequence[SensorPreset]) -> str:
    """The presets as a text listing, one block per preset.

    Args:
        presets: the presets, in listing order.

    Returns:
        Text with the name, band count and description of each preset on one
        line and its numbered band order on the next.
    """
    width = max(len(preset.name) for preset in presets)
    lines = []
    for preset in presets:
        order = '  '.join(f'{i}:{band}' for i, band in enumerate(preset.bands, 1))
        head = f'{preset.name:<{width}}  {len(preset.bands):>2} bands  '
        mask = f' [quality mask: {preset.quality}]' if preset.quality else ''
        lines.append(head + preset.description + mask)
        lines.append(' ' * (width + 2) + order)
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the presets."""
    from ..modalities import SENSORS

    if args.json:
        rows = [
            {
                'name': p.name,
                'bands': list(p.bands),
                'description': p.description,
                'quality': p.quality,
            }
            for p in SENSORS.values()
        ]
        print(json.dumps(rows, indent=2))
    else:
        print(format_presets(list(SENSORS.values())))
    return 0
