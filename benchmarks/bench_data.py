"""Book vs fast data functions on the full MovieLens 100K (median wall time of ``repeats``).

``bench_data(repeats=3) -> list[dict]`` is imported by ``benchmarks/bench.py``; run this file
alone for a table. The book's loops take tens of seconds on the full data (its random split
iterates an MXNet array element by element, its explicit loader assigns MXNet entries one by
one), so the book's side runs ``repeats`` times too only where that is affordable: pass
``book_repeats`` to change it.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from d2l_recsys.mxnet import movielens as D  # noqa: E402  (the MXNet tab first: it readies NumPy)
import mxnet as mx  # noqa: E402
from d2l_recsys.fetch import ml100k_dir  # noqa: E402


def _median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        mx.random.seed(0)
        start = time.perf_counter()
        fn()
        mx.nd.waitall()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_data(repeats=3, *, book_repeats=1, data_dir=None, log=None):
    """Time the book's and the fast data functions on the full ML-100K.

    Returns one dict per case: ``{'case', 'book_s', 'fast_s', 'speedup', 'repeats'}``
    (seconds are medians; ``book_repeats`` runs of the book's code, ``repeats`` of the fast).
    """
    data_dir = data_dir or ml100k_dir(log=log)
    data, nu, ni = D.read_data_ml100k(data_dir)
    cases = [
        ('split random', lambda f: (D.split_data_ml100k_fast if f else D.split_data_ml100k)(
            data, nu, ni, 'random', 0.1)),
        ('split seq-aware', lambda f: (D.split_data_ml100k_fast if f else D.split_data_ml100k)(
            data, nu, ni, 'seq-aware', 0.1)),
        ('load explicit', lambda f: (D.load_data_ml100k_fast if f else D.load_data_ml100k)(
            data, nu, ni, 'explicit')),
        ('load implicit', lambda f: (D.load_data_ml100k_fast if f else D.load_data_ml100k)(
            data, nu, ni, 'implicit')),
        ('split_and_load seq-aware explicit', lambda f: D.split_and_load_ml100k(
            'seq-aware', 'explicit', data_dir=data_dir, fast=f)),
        ('split_and_load random explicit', lambda f: D.split_and_load_ml100k(
            'random', 'explicit', data_dir=data_dir, fast=f)),
    ]
    rows = []
    for name, run in cases:
        book = _median_seconds(lambda: run(False), max(1, book_repeats))
        fast = _median_seconds(lambda: run(True), max(1, repeats))
        rows.append({'case': name, 'book_s': book, 'fast_s': fast,
                     'speedup': book / fast if fast > 0 else float('inf'),
                     'repeats': {'book': max(1, book_repeats), 'fast': max(1, repeats)}})
        if log:
            log(f'{name}: book {book:.3f} s, fast {fast:.3f} s')
    return rows


def format_table(rows):
    lines = [f'{"MovieLens 100K (full data)":36s} {"book (s)":>9s} {"fast (s)":>9s} '
             f'{"speedup":>8s}']
    for r in rows:
        lines.append(f'{r["case"]:36s} {r["book_s"]:9.3f} {r["fast_s"]:9.3f} '
                     f'{r["speedup"]:7.0f}x')
    return '\n'.join(lines)


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--book-repeats', type=int, default=1)
    args = parser.parse_args()
    print(format_table(bench_data(args.repeats, book_repeats=args.book_repeats, log=print)))
