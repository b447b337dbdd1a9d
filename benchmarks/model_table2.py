"""Paper Table 2 and the fusion linearity check on this machine.

    python benchmarks/model_table2.py            # params of every MViTv2-B preset
    python benchmarks/model_table2.py --memory   # + step memory and fusion cost (slow)

Run from the repository root (PYTHONPATH=. when rtsgeo is installed elsewhere).
"""

import argparse
import sys

from rtsgeo.cli import benchmark
from rtsgeo.models import PRESETS

PARAM_PRESETS = [name for name in PRESETS if not name.startswith('nano')]
MEMORY_PRESET = 'cascade_mvitv2_b_rgb_ndvi_nir_residual_cross_attention'


def rtsgeo_main(argv: list[str]) -> int:
    # Same as `rtsgeo benchmark ...`, without loading the other subcommands.
    parser = argparse.ArgumentParser(prog='rtsgeo')
    benchmark.add_parser(parser.add_subparsers(dest='command'))
    args = parser.parse_args(argv)
    return int(args.func(args))


def main() -> int:
    args = ['benchmark', 'model', '--params-only']
    for name in PARAM_PRESETS:
        args += ['--preset', name]
    code = rtsgeo_main(args)
    if '--memory' in sys.argv:
        code = code or rtsgeo_main(['benchmark', 'model', '--preset', MEMORY_PRESET])
    return code


if __name__ == '__main__':
    sys.exit(main())
