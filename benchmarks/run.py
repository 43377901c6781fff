"""Run every benchmark in this folder (``nox -s bench``), or the ones named.

    python benchmarks/run.py            # all bench_*.py
    python benchmarks/run.py core tts   # bench_core.py, bench_tts_openai.py...

Each ``bench_*.py`` has a ``main()`` that prints its numbers: medians of
several runs, measured side by side with a baseline in the same run, and the
ratios. A benchmark that fails is reported and the others still run.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).parent


def main(selected: list[str]) -> int:
    paths = sorted(HERE.glob("bench_*.py"))
    if selected:
        paths = [p for p in paths if any(name in p.stem for name in selected)]
    failed = []
    for path in paths:
        print(f"\n=== {path.stem} ===", flush=True)
        started = time.perf_counter()
        try:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            module.main()
        except Exception:
            traceback.print_exc()
            failed.append(path.stem)
        print(f"({path.stem}: {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
