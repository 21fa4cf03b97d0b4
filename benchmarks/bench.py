"""`make bench`: the book's code, the faithful and fast paths, and the PyTorch tab side by side.

For MF and AutoRec with the book's settings on the real MovieLens 100K, each run is a fresh
child process (so its peak memory, ``ru_maxrss``, is its own), repeated over seeds 0..R-1 with
the paths in rotating order so that a busy machine slows them alike. Four paths, on the same
data (MovieLens 100K, the book's splits) with the same seeds:

* ``book``: the book's cells as printed: the book's data functions (``split_data_ml100k``,
  ``load_data_ml100k``: Python loops), AutoRec's ``DataLoader`` with the book's
  ``num_workers=d2l.get_dataloader_workers()``, the book's models, loop and evaluators
  (this package's faithful copies, headless);
* ``faithful``: ``experiments.train_mf/train_autorec(fast=False)``, the package's default: the
  book's models, loop and evaluators on the vectorised data twins (identical data);
* ``fast``: the same functions with ``fast=True`` (:mod:`d2l_recsys.mxnet.fast`);
* ``torch``: the PyTorch tab, ``d2l_recsys.torch.experiments.train_mf/train_autorec`` (the
  book's MF cell and the PyTorch AutoRec deck's cells; PyTorch's own random streams, so the
  same seed gives another split and other initial weights than MXNet's). Skipped, with one
  line, when PyTorch is not installed;
* ``torch-fast``: the same functions with ``fast=True`` (:mod:`d2l_recsys.torch.fast`: the
  same batches and numbers as ``torch``, seed for seed). A row of its own beside ``torch``,
  as ``fast`` beside ``faithful``, so that the table shows what the book's loop costs in
  PyTorch and what the fast path gives back; the PyTorch goal is judged on it when it ran.

Timed: the call that reads, splits, loads, trains and evaluates (imports excluded, reported
apart). Reported: medians of wall seconds, training seconds, examples/sec, test RMSE (the book
evaluator's number and the exact one), peak memory, and the ratios. The data preparation
(book functions vs fast twins) comes from ``benchmarks/bench_data.py``. Writes
``results/bench.json`` and ``results/bench.md``, with a verdict line per goal: the fast path
against the book's code, and the PyTorch tab at least as fast as the MXNet fast path for both
models at the same RMSE (on ``torch-fast`` when it ran, else on ``torch``).

Every child gets the same environment: this one, by default, except that the fast AutoRec
child takes every core as ``--fast`` does (:func:`d2l_recsys.fast_path_threads`). Note that
with ``OMP_NUM_THREADS`` unset MXNet 1.9 on x86 gives its operators half the cores (it assumes
hyper-threading): one core of a 2-core machine. ``--omp-threads cores`` sets it to all cores
for every path (the dense AutoRec GEMMs of the faithful and fast paths then run about 1.5x
sooner, while the book's 4-worker DataLoader oversubscribes the cores and slows down). The
PyTorch child uses PyTorch's own thread count (reported per run).

    python benchmarks/bench.py [--repeats 3] [--quick] [--models mf,autorec]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from d2l_recsys.atomic import atomic_write_text  # noqa: E402 (framework-free)
from d2l_recsys.defaults import BOOK  # noqa: E402

MODELS = ('mf', 'autorec')
PATHS = ('book', 'faithful', 'fast', 'torch', 'torch-fast')
TORCH_PATHS = ('torch', 'torch-fast')
TARGETS = {'mf': 10.0, 'autorec': 7.0}     # fast at least this many times sooner
# The path the targets are measured against: the book's cells as printed, measured at 53 s
# (AutoRec) and 55 s (MF) with the book's multi-worker DataLoader when the targets were set;
# the package default ('faithful') already runs the book's model and loop on the vectorised
# data twins, so its ratio is reported beside it, not judged.
TARGET_BASELINE = 'book'
RMSE_TOLERANCE = 0.01
# The PyTorch tab's goal: at least as fast as this MXNet path, for both models, with a median
# exact test RMSE within RMSE_TOLERANCE of it (other random streams: medians, not seeds).
TORCH_BASELINE = 'fast'
DATA_TARGET_S = 1.0
QUICK_EPOCHS = {'mf': 3, 'autorec': 4}


# ----------------------------------------------------------------------------- child side

def _book_mf(seed, devices, data_dir, num_epochs):
    """The book's MF cell, headless (:numref:`sec_mf`)."""
    from d2l_recsys import compat  # noqa: F401  (before mxnet: it readies NumPy)
    import mxnet as mx
    from mxnet import gluon
    from d2l_recsys.mxnet import experiments, mf, movielens
    experiments.set_seed(seed)
    num_users, num_items, train_iter, test_iter = movielens.split_and_load_ml100k(
        test_ratio=0.1, batch_size=512, data_dir=data_dir, fast=False)
    net = mf.MF(30, num_users, num_items)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    lr, wd, optimizer = 0.002, 1e-5, 'adam'
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": lr, 'wd': wd})
    history = mf.train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                     num_epochs, devices, mf.evaluator,
                                     plot=False, progress=False)
    history['test_rmse_exact'] = mf.rmse_exact(net, test_iter, devices)
    return history


def _book_autorec(seed, devices, data_dir, num_epochs):
    """The book's AutoRec cell, headless (:numref:`sec_autorec`)."""
    from d2l_recsys import compat  # noqa: F401  (before mxnet: it readies NumPy)
    import mxnet as mx
    from d2l_recsys import mxnet as d2l
    from mxnet import gluon, np
    from d2l_recsys.mxnet import autorec, experiments, mf, movielens
    experiments.set_seed(seed)
    df, num_users, num_items = movielens.read_data_ml100k(data_dir)
    train_data, test_data = movielens.split_data_ml100k(df, num_users, num_items)
    _, _, _, train_inter_mat = movielens.load_data_ml100k(train_data, num_users, num_items)
    _, _, _, test_inter_mat = movielens.load_data_ml100k(test_data, num_users, num_items)
    train_iter = gluon.data.DataLoader(train_inter_mat, shuffle=True,
                                       last_batch="rollover", batch_size=256,
                                       num_workers=d2l.get_dataloader_workers())
    test_iter = gluon.data.DataLoader(np.array(train_inter_mat), shuffle=False,
                                      last_batch="keep", batch_size=1024,
                                      num_workers=d2l.get_dataloader_workers())
    net = autorec.AutoRec(500, num_users)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    lr, wd, optimizer = 0.002, 1e-5, 'adam'
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": lr, 'wd': wd})
    history = mf.train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                     num_epochs, devices, autorec.autorec_evaluator,
                                     inter_mat=test_inter_mat, plot=False,
                                     progress=False)
    history['test_rmse_exact'] = autorec.autorec_rmse_exact(net, test_iter, test_inter_mat,
                                                            devices)
    return history


def torch_devices(spec):
    """The PyTorch tab's spelling of ``--devices``: it has one CPU device (``cpu:0,cpu:1``
    is ``cpu``) and reads ``gpu:N`` as ``cuda:N``."""
    items = [d.strip() for d in spec.split(',') if d.strip()]
    if items and all(d.split(':')[0] == 'cpu' for d in items):
        return 'cpu'
    return spec


def _torch_child(model, seed, devices_spec, data_dir, num_epochs, fast=False):
    """``(history, import seconds, wall seconds, threads)`` of the PyTorch tab's run (the
    timed call reads, splits, loads, trains and evaluates, as the MXNet paths'); imports no
    MXNet."""
    start_import = time.perf_counter()
    import torch
    import torch._dynamo  # noqa: F401 (torch.optim imports it when the first optimizer is made)
    from d2l_recsys.torch import experiments
    from d2l_recsys.torch.devices import parse_devices
    import_s = time.perf_counter() - start_import
    devices = parse_devices(torch_devices(devices_spec))
    train = experiments.train_mf if model == 'mf' else experiments.train_autorec
    tic = time.perf_counter()
    threads = torch.get_num_threads()
    if fast and devices[0].type == 'cpu':
        from d2l_recsys.torch import fast as fast_path
        threads = fast_path.num_threads(model, devices) or threads
    _, history, _ = train(seed=seed, devices=devices, data_dir=data_dir,
                          num_epochs=num_epochs, plot=False, progress=False, fast=fast)
    if devices[0].type == 'cuda':
        torch.cuda.synchronize()
    return history, import_s, time.perf_counter() - tic, threads


def child(model, path, seed, devices_spec, data_dir, num_epochs):
    """Run one configuration in this process; print one JSON line."""
    import contextlib
    import io
    import resource
    out = io.StringIO()
    if path in TORCH_PATHS:
        with contextlib.redirect_stdout(out):
            history, import_s, wall, threads = _torch_child(model, seed, devices_spec,
                                                            data_dir, num_epochs,
                                                            fast=(path == 'torch-fast'))
    else:
        if path == 'fast':
            from d2l_recsys import fast_path_threads
            fast_path_threads(model)   # what `--fast` does on the command line
        start_import = time.perf_counter()
        from d2l_recsys import compat  # noqa: F401  (before mxnet: it readies NumPy)
        import mxnet as mx
        from d2l_recsys.mxnet import experiments, fast  # noqa: F401 (import cost)
        from d2l_recsys.mxnet.devices import parse_devices
        import_s = time.perf_counter() - start_import
        threads = None
        devices = parse_devices(devices_spec)
        tic = time.perf_counter()
        with contextlib.redirect_stdout(out):
            if path == 'book':
                run = _book_mf if model == 'mf' else _book_autorec
                history = run(seed, devices, data_dir, num_epochs)
            else:
                train = experiments.train_mf if model == 'mf' else experiments.train_autorec
                _, history, _ = train(seed=seed, devices=devices, data_dir=data_dir,
                                      num_epochs=num_epochs, fast=(path == 'fast'),
                                      plot=False, progress=False)
            mx.nd.waitall()
        wall = time.perf_counter() - tic
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        'model': model, 'path': path, 'seed': seed, 'num_epochs': num_epochs,
        'wall_s': wall, 'import_s': import_s,
        'train_s': float(sum(history['train_seconds'])),
        'epochs_s': float(sum(history['seconds'])),
        'examples_per_sec': float(history['examples_per_sec']),
        'test_rmse': float(history['test_rmse'][-1]),
        'test_rmse_exact': float(history['test_rmse_exact']),
        'train_loss': float(history['train_loss'][-1]),
        'peak_rss_mb': peak_kb / 1024.0,
        'devices': history['devices'],
        'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
        'torch_threads': threads,
        'printed': out.getvalue().strip().splitlines()[-2:],
    }
    print('BENCH ' + json.dumps(result))


# ----------------------------------------------------------------------------- parent side

def child_env(omp_threads):
    """The environment of every child: the same for all paths."""
    env = dict(os.environ, MPLBACKEND='Agg')
    if omp_threads != 'inherit':
        env['OMP_NUM_THREADS'] = str(omp_threads)
    return env


def run_child(model, path, seed, devices, data_dir, num_epochs, log, env):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', model, path, str(seed),
           '--devices', devices, '--data-dir', data_dir, '--epochs', str(num_epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('BENCH ')]
    if proc.returncode != 0 or not lines:
        tail = '\n'.join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f'{model}/{path} seed {seed} failed (exit {proc.returncode}):\n'
                           f'{tail}')
    result = json.loads(lines[-1][len('BENCH '):])
    log(f'  {model:8s} {path:9s} seed {seed}: {result["wall_s"]:7.2f} s, test RMSE '
        f'{result["test_rmse"]:.4f} (exact {result["test_rmse_exact"]:.4f}), '
        f'{result["peak_rss_mb"]:.0f} MB')
    return result


def _median(values):
    return statistics.median(values) if values else float('nan')


def summarize(runs, models, paths):
    summary = {}
    for model in models:
        rows = {}
        for path in paths:
            rs = [r for r in runs if r['model'] == model and r['path'] == path]
            if not rs:
                continue
            rows[path] = {key: _median([r[key] for r in rs]) for key in (
                'wall_s', 'train_s', 'epochs_s', 'examples_per_sec', 'test_rmse',
                'test_rmse_exact', 'peak_rss_mb', 'import_s')}
            rows[path]['runs'] = len(rs)
            rows[path]['devices'] = rs[0]['devices']
            rows[path]['omp_num_threads'] = rs[0].get('omp_num_threads')
            rows[path]['torch_threads'] = rs[0].get('torch_threads')
        entry = {'paths': rows}
        if 'fast' in rows:
            fast_rs = {r['seed']: r for r in runs if r['model'] == model and r['path'] == 'fast'}
            for ref in ('faithful', 'book'):
                if ref not in rows:
                    continue
                ref_rs = {r['seed']: r for r in runs if r['model'] == model and r['path'] == ref}
                seeds = sorted(set(fast_rs) & set(ref_rs))
                entry[f'speedup_vs_{ref}'] = rows[ref]['wall_s'] / rows['fast']['wall_s']
                entry[f'train_speedup_vs_{ref}'] = (rows[ref]['epochs_s']
                                                    / rows['fast']['epochs_s'])
                entry[f'ratio_fast_over_{ref}'] = rows['fast']['wall_s'] / rows[ref]['wall_s']
                diffs = [fast_rs[s]['test_rmse'] - ref_rs[s]['test_rmse'] for s in seeds]
                entry[f'rmse_diff_vs_{ref}'] = {
                    'median_of_medians': rows['fast']['test_rmse'] - rows[ref]['test_rmse'],
                    'per_seed': diffs,
                    'max_abs_per_seed': max((abs(d) for d in diffs), default=float('nan'))}
        ref = TARGET_BASELINE
        if f'speedup_vs_{ref}' in entry:
            diff = entry[f'rmse_diff_vs_{ref}']
            entry['target'] = {
                'baseline': ref, 'required_speedup': TARGETS[model],
                'speedup': entry[f'speedup_vs_{ref}'],
                'speed_met': entry[f'speedup_vs_{ref}'] >= TARGETS[model],
                'rmse_tolerance': RMSE_TOLERANCE,
                'rmse_met': abs(diff['median_of_medians']) <= RMSE_TOLERANCE
                and diff['max_abs_per_seed'] <= RMSE_TOLERANCE}
            entry['target']['met'] = entry['target']['speed_met'] and entry['target']['rmse_met']
        torch_path = torch_goal_path(rows)
        if torch_path and TORCH_BASELINE in rows:
            entry['torch_goal'] = torch_goal(rows[torch_path], rows[TORCH_BASELINE])
            entry['torch_goal']['path'] = torch_path
        summary[model] = entry
    return summary


def torch_goal_path(rows):
    """The PyTorch path the goal is judged on: ``torch-fast`` when it ran, else ``torch``."""
    return next((p for p in ('torch-fast', 'torch') if p in rows), None)


def torch_goal(torch_row, mxnet_row):
    """The PyTorch tab against the MXNet fast path for one model: the ratio of median wall
    times (<= 1 is at least as fast) and the medians' exact test RMSEs (within
    RMSE_TOLERANCE is the same RMSE; the seeds draw other random streams, so seed by seed
    comparisons mean nothing here)."""
    ratio = torch_row['wall_s'] / mxnet_row['wall_s']
    diff = torch_row['test_rmse_exact'] - mxnet_row['test_rmse_exact']
    goal = {'baseline': TORCH_BASELINE, 'ratio_torch_over_baseline': ratio,
            'speed_met': ratio <= 1.0, 'rmse_diff': diff,
            'rmse_tolerance': RMSE_TOLERANCE, 'rmse_met': abs(diff) <= RMSE_TOLERANCE}
    goal['met'] = goal['speed_met'] and goal['rmse_met']
    return goal


def verdict_lines(report):
    """One line per target: the speed ratios, the RMSE agreement, the data preparation."""
    lines = []
    if report['quick']:
        lines.append('--quick run: fewer epochs and one seed, so the ratios are not the '
                     'targets\' (run `make bench`).')
    for model, entry in report['summary'].items():
        t = entry.get('target')
        if t is None:
            lines.append(f'{model}: no target verdict (the fast and {TARGET_BASELINE} paths '
                         'were not both run)')
            continue
        lines.append(f'{model}: fast {t["speedup"]:.1f}x sooner than the book\'s code (target '
                     f'>= {t["required_speedup"]:.0f}x: {"met" if t["speed_met"] else "NOT met"})'
                     f'; test RMSE within {t["rmse_tolerance"]} of it on every seed: '
                     f'{"yes" if t["rmse_met"] else "NO"}')
    lines += torch_verdict_lines(report)
    if report.get('data_prep'):
        slowest = max(report['data_prep'], key=lambda r: r['fast_s'])
        ok = slowest['fast_s'] < DATA_TARGET_S
        lines.append(f'data preparation: slowest fast case {slowest["case"]} '
                     f'{slowest["fast_s"]:.2f} s (target < {DATA_TARGET_S:.0f} s: '
                     f'{"met" if ok else "NOT met"})')
    return lines


def torch_verdict_lines(report):
    """A line per model for the PyTorch tab against the MXNet fast path, then the goal's
    verdict over both models; nothing when the PyTorch tab was not run."""
    models = [m for m, e in report['summary'].items() if torch_goal_path(e['paths'])]
    if not models:
        return []
    lines = []
    for model in models:
        g = report['summary'][model].get('torch_goal')
        if g is None:
            lines.append(f'{model}: PyTorch tab not compared (the MXNet {TORCH_BASELINE} path '
                         'was not run)')
            continue
        lines.append(f'{model}: the PyTorch tab ({g.get("path", "torch")}) takes '
                     f'{g["ratio_torch_over_baseline"]:.2f}x '
                     f'the MXNet {g["baseline"]} path\'s time (goal <= 1x: '
                     f'{"met" if g["speed_met"] else "NOT met"}); median exact test RMSE '
                     f'{g["rmse_diff"]:+.4f} from it (within {g["rmse_tolerance"]}: '
                     f'{"yes" if g["rmse_met"] else "NO"})')
    goals = [report['summary'].get(m, {}).get('torch_goal') for m in MODELS]
    goal = ('the PyTorch tab at least as fast as the MXNet fast path for both models at the '
            'same RMSE')
    if any(g is None for g in goals):
        lines.append(f'goal ({goal}): not judged (both models need a PyTorch path and the MXNet '
                     f'{TORCH_BASELINE} path)')
    else:
        lines.append(f'goal ({goal}): {"met" if all(g["met"] for g in goals) else "NOT met"}')
    return lines


def machine_info(devices, env):
    from d2l_recsys import compat  # noqa: F401  (before mxnet: it readies NumPy)
    import mxnet as mx
    from d2l_recsys.reproduce import machine   # CPU model and cores, as rmse.md reports them
    info = {**machine(), 'python': platform.python_version(),
            'mxnet': mx.__version__, 'devices': devices,
            'gpus_visible': mx.context.num_gpus(),
            'omp_num_threads': env.get('OMP_NUM_THREADS'),
            'mxnet_engine': env.get('MXNET_ENGINE_TYPE')}
    try:
        import importlib.metadata
        info['torch'] = importlib.metadata.version('torch')
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        info['loadavg_start'] = os.getloadavg()
    except OSError:
        pass
    return info


def data_prep(repeats, data_dir, log):
    """Timings of the book's data functions against the fast twins (bench_data.py)."""
    try:
        sys.path.insert(0, HERE)
        from bench_data import bench_data
    except ImportError as e:
        log(f'data preparation: benchmarks/bench_data.py not importable ({e}); skipped')
        return None
    return bench_data(repeats, data_dir=data_dir)


def _fmt(x, spec='.2f'):
    return format(x, spec) if isinstance(x, (int, float)) and x == x else 'n/a'


def markdown(report):
    m = report['machine']
    torch_version = f', PyTorch {m["torch"]}' if m.get('torch') else ''
    lines = ['# Benchmark: the book\'s code, the faithful and fast paths, the PyTorch tab', '',
             f'Machine: {m["cpu"]}, {m["cores"]} cores; devices {m["devices"]} '
             f'(GPUs visible: {m["gpus_visible"]}); Python {m["python"]}, MXNet {m["mxnet"]}'
             f'{torch_version}; '
             f'OMP_NUM_THREADS in the parent: '
             f'{m["omp_num_threads"] or "unset (MXNet: half the cores on x86)"}; per path in '
             'the table (the fast AutoRec path takes every core, as `--fast` does: '
             '`d2l_recsys.fast_path_threads`). '
             f'Load average at start {tuple(round(x, 2) for x in m.get("loadavg_start", ()))}, '
             f'at end {tuple(round(x, 2) for x in m.get("loadavg_end", ()))}.',
             f'Seeds {report["seeds"]}; medians over them. Epochs: '
             + ', '.join(f'{k} {v}' for k, v in report['epochs'].items())
             + ('' if not report['quick'] else ' (--quick: fewer than the book\'s)') + '.',
             f'Total benchmark time {report["total_s"]:.0f} s.',
             *([_sentence(report['torch_note'])] if report.get('torch_note') else []),
             '',
             'Wall = the timed call (read, split, load, train, evaluate; imports excluded). '
             'Test RMSE: the book evaluator\'s number (MF: running mean over test batches; '
             'AutoRec: exact) and the exact test-set RMSE.', '',
             '| model | path | wall (s) | train+eval (s) | examples/s | test RMSE | exact RMSE '
             '| peak RSS (MB) | threads | runs |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    for model, entry in report['summary'].items():
        for path, r in entry['paths'].items():
            lines.append(f'| {model} | {path} | {_fmt(r["wall_s"])} | {_fmt(r["epochs_s"])} | '
                         f'{_fmt(r["examples_per_sec"], ",.0f")} | {_fmt(r["test_rmse"], ".4f")}'
                         f' | {_fmt(r["test_rmse_exact"], ".4f")} | '
                         f'{_fmt(r["peak_rss_mb"], ".0f")} | '
                         f'{_threads(r)} | {r["runs"]} |')
    lines += ['', '## Verdicts: the fast path against the book\'s code; the PyTorch tab against '
              'the MXNet fast path', '']
    lines += [f'- {line}' for line in verdict_lines(report)]
    lines += ['', '## Ratios (median wall time of the other path / fast)', '',
              '| model | vs | speedup (full run) | speedup (train+eval) | fast/other '
              '| RMSE fast - other (medians) | max per-seed abs diff | target |',
              '|---|---|---:|---:|---:|---:|---:|---|']
    for model, entry in report['summary'].items():
        for ref in ('book', 'faithful'):
            if f'speedup_vs_{ref}' not in entry:
                continue
            d = entry[f'rmse_diff_vs_{ref}']
            ok_speed = entry[f'speedup_vs_{ref}'] >= TARGETS[model]
            ok_rmse = abs(d['median_of_medians']) <= RMSE_TOLERANCE
            if ref == TARGET_BASELINE:
                target = (f'>= {TARGETS[model]:.0f}x: {"met" if ok_speed else "NOT met"}; '
                          f'RMSE within {RMSE_TOLERANCE}: {"yes" if ok_rmse else "NO"}')
            else:
                target = 'for information (not the targets\' baseline)'
            lines.append(
                f'| {model} | {ref} | {entry[f"speedup_vs_{ref}"]:.1f}x | '
                f'{entry[f"train_speedup_vs_{ref}"]:.1f}x | '
                f'{entry[f"ratio_fast_over_{ref}"]:.3f} | {d["median_of_medians"]:+.4f} | '
                f'{_fmt(d["max_abs_per_seed"], ".4f")} | {target} |')
    torch_rows = [(model, e) for model, e in report['summary'].items() if 'torch_goal' in e]
    if torch_rows:
        lines += ['', '## The PyTorch tab beside the MXNet fast path (medians)', '',
                  '| model | PyTorch path | PyTorch wall (s) | MXNet fast wall (s) | PyTorch / fast '
                  '| exact RMSE PyTorch | exact RMSE fast | goal: at least as fast, same RMSE |',
                  '|---|---|---:|---:|---:|---:|---:|---|']
        for model, entry in torch_rows:
            g, rows = entry['torch_goal'], entry['paths']
            for path in (p for p in TORCH_PATHS if p in rows):
                judged = path == g.get('path', 'torch')
                lines.append(
                    f'| {model} | {path} | {_fmt(rows[path]["wall_s"])} | '
                    f'{_fmt(rows[TORCH_BASELINE]["wall_s"])} | '
                    f'{rows[path]["wall_s"] / rows[TORCH_BASELINE]["wall_s"]:.2f}x | '
                    f'{_fmt(rows[path]["test_rmse_exact"], ".4f")} | '
                    f'{_fmt(rows[TORCH_BASELINE]["test_rmse_exact"], ".4f")} | '
                    + (f'{"met" if g["met"] else "NOT met"} |' if judged else
                       'for information |'))
    lines += ['', '## Data preparation (book functions vs fast twins, full ML-100K)', '']
    if report.get('data_prep'):
        lines += ['| case | book (s) | fast (s) | speedup | fast < 1 s |',
                  '|---|---:|---:|---:|---|']
        for r in report['data_prep']:
            lines.append(f'| {r["case"]} | {r["book_s"]:.3f} | {r["fast_s"]:.4f} | '
                         f'{r["speedup"]:.0f}x | {"yes" if r["fast_s"] < DATA_TARGET_S else "NO"}'
                         f' |')
    else:
        lines.append('Not measured (benchmarks/bench_data.py missing or --no-data).')
    lines += ['', 'Paths: **book** = the book\'s cells (its Python-loop data functions and, for '
              'AutoRec, its 4-worker DataLoaders) with this package\'s faithful model, loop and '
              'evaluator; **faithful** = `experiments.train_*(fast=False)`, the package default '
              '(the book\'s model, loop and evaluators on the vectorised data twins, which give '
              'identical data); **fast** = `experiments.train_*(fast=True)` '
              '(`d2l_recsys.mxnet.fast`); **torch** = the PyTorch tab, '
              '`d2l_recsys.torch.experiments.train_*` (the book\'s MF cell and the PyTorch '
              'AutoRec deck\'s cells; same data and seeds, but PyTorch\'s own random streams, '
              'so its RMSE is compared by medians, not seed by seed); **torch-fast** = the same '
              'with `fast=True` (`d2l_recsys.torch.fast`: the same batches and numbers as '
              '**torch**, seed for seed, one intra-op thread on a CPU). Threads: MXNet\'s '
              '`OMP_NUM_THREADS` (default: MXNet\'s own), PyTorch\'s `torch.get_num_threads()`. '
              'Peak RSS is the child process\'s own (`ru_maxrss`); the book path\'s DataLoader '
              'workers are separate processes, not counted.', '',
              'Why the fast path\'s targets are judged against **book**: they were set against '
              'the book\'s code as printed, and their baselines (53 s AutoRec, 55 s MF) are that '
              'code\'s. The package default already drops most of that time (the vectorised '
              'data twins and no DataLoader workers), so the fast path\'s ratio to it measures '
              'only the training loop: what the fast path still spends is MXNet\'s operator '
              'work that every path does (Adam over every weight every step, the dense GEMMs, one '
              'operator dispatch per parameter), see docs/speed.md.', '']
    return '\n'.join(lines)


def _sentence(text):
    return f'{text[0].upper()}{text[1:]}.'


def _threads(row):
    if row.get('torch_threads') is not None:
        return f'{row["torch_threads"]} (PyTorch)'
    return row.get('omp_num_threads') or 'default'


def torch_available():
    """None when the PyTorch tab can be imported, else one line saying why not."""
    import importlib.util
    if importlib.util.find_spec('torch') is None:
        return 'PyTorch is not installed'
    if importlib.util.find_spec('d2l_recsys.torch') is None:
        return 'this d2l_recsys has no PyTorch tab (d2l_recsys.torch)'
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3,
                        help='seeds per configuration (medians are reported); default 3')
    parser.add_argument('--quick', action='store_true',
                        help='a smoke run: 1 seed, a few epochs (ratios are not the targets\')')
    parser.add_argument('--models', default='mf,autorec')
    parser.add_argument('--paths', default=','.join(PATHS),
                        help=f'comma-separated, default {",".join(PATHS)} (the torch paths are '
                             'skipped, with one line, when PyTorch is not installed)')
    parser.add_argument('--devices', default='cpu',
                        help='devices for every path, e.g. cpu, gpu:0, cpu:0,cpu:1')
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--epochs', type=int, default=None,
                        help="override the book's epochs (MF 20, AutoRec 25)")
    parser.add_argument('--out', default=os.path.join(ROOT, 'results'))
    parser.add_argument('--no-data', action='store_true', help='skip the data-prep timings')
    parser.add_argument('--omp-threads', default='inherit',
                        help="OMP_NUM_THREADS for every child: 'inherit' (default: this "
                             "environment's), 'cores' (all cores) or a number. MXNet 1.9 on "
                             "x86 uses half the cores when it is unset (it assumes "
                             "hyper-threading), i.e. one core of a 2-core machine")
    parser.add_argument('--child', nargs=3, metavar=('MODEL', 'PATH', 'SEED'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        model, path, seed = args.child
        child(model, path, int(seed), args.devices, args.data_dir, args.epochs)
        return 0

    models = [m.strip() for m in args.models.split(',') if m.strip()]
    paths = [p.strip() for p in args.paths.split(',') if p.strip()]
    for m in models:
        if m not in MODELS:
            parser.error(f'--models: unknown model {m!r} (choose from {", ".join(MODELS)})')
    for p in paths:
        if p not in PATHS:
            parser.error(f'--paths: unknown path {p!r} (choose from {", ".join(PATHS)})')
    if args.repeats < 1:
        parser.error('--repeats must be at least 1')
    repeats = 1 if args.quick else args.repeats
    epochs = {m: args.epochs or (QUICK_EPOCHS[m] if args.quick else BOOK[m]['num_epochs'])
              for m in models}

    def log(msg):
        print(msg, flush=True)

    omp = args.omp_threads
    if omp == 'cores':
        omp = os.cpu_count() or 1
    elif omp != 'inherit' and not str(omp).isdigit():
        parser.error(f"--omp-threads: expected 'cores', 'inherit' or a number, got {omp!r}")
    env = child_env(omp)
    asked = [p for p in paths if p in TORCH_PATHS]
    torch_note = (torch_available() if asked
                  else 'no PyTorch rows: not asked for (--paths)')
    if asked and torch_note:
        paths = [p for p in paths if p not in TORCH_PATHS]
        torch_note = f'no PyTorch rows: {torch_note}'
        log(f'bench: {torch_note}')
    from d2l_recsys import fetch
    data_dir = fetch.ml100k_dir(args.data_dir, log=log)
    start = time.time()
    report = {'machine': machine_info(args.devices, env), 'quick': args.quick,
              'seeds': list(range(repeats)), 'epochs': epochs, 'runs': [],
              'torch_note': torch_note}
    log(f'bench: models {models}, paths {paths}, seeds {report["seeds"]}, epochs {epochs}, '
        f'devices {args.devices}')
    for seed in range(repeats):
        for model in models:
            # Rotate the order so that no path always runs first (or last) on a busy machine.
            order = paths[seed % len(paths):] + paths[:seed % len(paths)]
            for path in order:
                report['runs'].append(run_child(model, path, seed, args.devices, data_dir,
                                                epochs[model], log, env))
    report['data_prep'] = None if args.no_data else data_prep(
        1 if args.quick else args.repeats, data_dir, log)
    try:
        report['machine']['loadavg_end'] = os.getloadavg()
    except OSError:
        pass
    report['total_s'] = time.time() - start
    report['summary'] = summarize(report['runs'], models, paths)
    text = markdown(report)
    os.makedirs(args.out, exist_ok=True)
    atomic_write_text(os.path.join(args.out, 'bench.json'), json.dumps(report, indent=2) + '\n')
    atomic_write_text(os.path.join(args.out, 'bench.md'), text)
    print()
    print(text)
    print(f'wrote {os.path.join(args.out, "bench.md")} and bench.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
