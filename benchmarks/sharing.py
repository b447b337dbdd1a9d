"""Two mapping processes sharing the machine: each one's time over one alone.

Runs ``rtsgeo benchmark predict --pipeline-only --json`` (plus any arguments
given) once alone, then twice started together, and prints one JSON object:
the wall time of the run alone, of each run of the pair, their ratios to the
run alone, and the tiles/s each reported. With every process sizing its
threads from the CPUs it may use, two processes on the same cores should
each take about twice the time of one alone (fair sharing); thread
oversubscription makes it several times that.

Run on an otherwise idle machine::

    python benchmarks/sharing.py
    python benchmarks/sharing.py --scene-size 2048 --repeats 1   # quicker
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time


def _start(extra: list[str]) -> tuple[subprocess.Popen[str], float]:
    command = [sys.executable, '-m', 'rtsgeo.cli.main', 'benchmark', 'predict']
    command += ['--pipeline-only', '--json', *extra]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    return process, time.perf_counter()


def _finish(process: subprocess.Popen[str], start: float) -> tuple[float, float]:
    out, _ = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f'the benchmark process failed (exit {process.returncode})')
    row = json.loads(out.strip().splitlines()[-1])
    return seconds, float(row['tiles_per_s'])


def main(extra: list[str]) -> None:
    load_before = os.getloadavg()
    alone_s, alone_rate = _finish(*_start(extra))
    pair = [_start(extra), _start(extra)]
    together = [_finish(*started) for started in pair]
    print(
        json.dumps(
            {
                'command': 'rtsgeo benchmark predict --pipeline-only --json '
                + ' '.join(extra),
                'machine': f'{platform.machine()}, {os.cpu_count()} CPUs',
                'load_before': [round(x, 2) for x in load_before],
                'alone_s': round(alone_s, 1),
                'together_s': [round(s, 1) for s, _ in together],
                'ratio_to_alone': [round(s / alone_s, 2) for s, _ in together],
                'tiles_per_s_alone': alone_rate,
                'tiles_per_s_together': [rate for _, rate in together],
            }
        )
    )


if __name__ == '__main__':
    main(sys.argv[1:])
