r"""`make bench`'s rows for FM and DeepFM: the book's code against the fast path, 30 epochs on
MovieLens 100K as click data (``ml100k-ctr``) with the book's settings.

Paths, each a fresh child process (``python benchmarks/bench_ctr.py --child MODEL PATH SEED``):

* ``book``: the sections' cells as printed (the book's ``CTRDataset``, whose items look their
  fields up one by one, ``DataLoader``\\ s with ``num_workers=d2l.get_dataloader_workers()``, the
  book's ``FM``/``DeepFM`` blocks and ``train_ch13``), the data set's name and ``num_feat`` set
  for ``ml100k-ctr``;
* ``faithful``: ``train_fm``/``train_deepfm(fast=False)``: the book's model and ``train_ch13``
  on the vectorised ``CTRDatasetFast`` items (the same batches);
* ``fast``: the same with ``fast=True`` (hybridized twins, ``train_ch13_fast``);
* ``torch``, ``torch-fast``: the PyTorch tab's ``train_fm``/``train_deepfm``, both paths
  (``torch``: its ``train_ch13`` over ``DataLoader``\ s of the vectorised items).

The book's and the faithful paths take minutes an epoch-set on a 2-core machine, so they are
timed on ``--bounded-epochs`` epochs (3 by default) and projected to the book's 30: the time to
build the data sets plus 30 times their mean epoch (training and the test evaluation, as
``train_ch13`` spends them). The fast paths run all 30 epochs. Reported per path: wall time
(run or projected) and CPU time (this process and its ``DataLoader`` workers: on a shared
machine the wall time grows with the load, the CPU time much less), seconds per epoch,
examples/s, and the book's test accuracy and the exact
test AUC after the epochs run (the fast paths after 30, the bounded ones after their few).

    python benchmarks/bench_ctr.py [--models fm,deepfm] [--paths ...] [--repeats 1]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from d2l_recsys.atomic import atomic_write_text  # noqa: E402 (framework-free)
from d2l_recsys.defaults import BOOK  # noqa: E402

MODELS = ('fm', 'deepfm')
PATHS = ('book', 'fast', 'faithful', 'torch', 'torch-fast')
BOUNDED = ('book', 'faithful', 'torch')        # timed on a few epochs, projected to 30
TARGET_S = 60.0                                # the fast path's 30 epochs, each model
DATASET, NUM_FEAT = 'ml100k-ctr', 8


# ----------------------------------------------------------------------------- child side

def _book_mxnet(model, seed, epochs):
    """The sections' cells as printed (MXNet), on ml100k-ctr; ``(history, data seconds)``."""
    from d2l_recsys import mxnet as d2l
    from mxnet import gluon, init
    d2l.set_seed(seed)
    tic = time.perf_counter()
    batch_size = 2048
    data_dir = d2l.download_extract(DATASET)
    train_data = d2l.CTRDataset(os.path.join(data_dir, 'train.csv'), num_feat=NUM_FEAT)
    test_data = d2l.CTRDataset(os.path.join(data_dir, 'test.csv'),
                               feat_mapper=train_data.feat_mapper,
                               defaults=train_data.defaults, num_feat=NUM_FEAT)
    train_iter = gluon.data.DataLoader(
        train_data, shuffle=True, last_batch='rollover', batch_size=batch_size,
        num_workers=d2l.get_dataloader_workers())
    test_iter = gluon.data.DataLoader(
        test_data, shuffle=False, last_batch='rollover', batch_size=batch_size,
        num_workers=d2l.get_dataloader_workers())
    data_s = time.perf_counter() - tic
    devices = d2l.try_all_gpus()
    if model == 'fm':
        net = d2l.FM(train_data.field_dims, num_factors=20)
        lr = 0.02
    else:
        net = d2l.DeepFM(train_data.field_dims, num_factors=10, mlp_dims=[30, 20, 10])
        lr = 0.01
    net.initialize(init.Xavier(), ctx=devices)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': lr})
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    history = d2l.train_ch13(net, train_iter, test_iter, loss, trainer, epochs, devices,
                             plot=False, progress=False)
    test = _arrays(data_dir)
    history['test_auc'] = [d2l_ctr().roc_auc(d2l.predict_clicks(net, test.features),
                                             test.labels)]
    return history, data_s


def d2l_ctr():
    from d2l_recsys import clicks
    return clicks


def _arrays(data_dir):
    """The test file as the book's CTRDataset maps it in this process (the same set order)."""
    from d2l_recsys import clicks
    train = clicks.read_ctr_arrays(os.path.join(data_dir, 'train.csv'), num_feat=NUM_FEAT)
    return clicks.read_ctr_arrays(os.path.join(data_dir, 'test.csv'), train.feat_mapper,
                               train.defaults, num_feat=NUM_FEAT)


def _cpu(resource):
    """CPU seconds of this process and of its children that ended (DataLoader workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(model, path, seed, epochs):
    """One configuration in this process; prints one JSON line."""
    import contextlib
    import io
    torch_path = path.startswith('torch')
    start = time.perf_counter()
    if torch_path:
        import torch  # noqa: F401
        from d2l_recsys import torch as tab
    else:
        from d2l_recsys import compat  # noqa: F401  (before mxnet)
        import mxnet  # noqa: F401
        from d2l_recsys import mxnet as tab
    import_s = time.perf_counter() - start
    import resource
    out = io.StringIO()
    tic = time.perf_counter()
    cpu0 = _cpu(resource)
    with contextlib.redirect_stdout(out):
        if path == 'book':
            history, data_s = _book_mxnet(model, seed, epochs)
        else:
            train = tab.train_fm if model == 'fm' else tab.train_deepfm
            _, history, _ = train(seed=seed, devices='cpu', num_epochs=epochs,
                                  fast=path.endswith('fast'), plot=False, progress=False)
            data_s = None
    if 'mxnet' in sys.modules:
        sys.modules['mxnet'].nd.waitall()
    wall = time.perf_counter() - tic
    cpu = _cpu(resource) - cpu0
    epoch_s = statistics.mean(history['seconds'])
    if data_s is None:
        data_s = wall - sum(history['seconds'])
    print('BENCH ' + json.dumps({
        'model': model, 'path': path, 'seed': seed, 'epochs': epochs, 'wall_s': wall,
        'import_s': import_s, 'data_s': data_s, 'epoch_s': epoch_s, 'cpu_s': cpu,
        'projected_s': data_s + epoch_s * BOOK[model]['num_epochs'],
        'projected_cpu_s': cpu * (data_s + epoch_s * BOOK[model]['num_epochs']) / wall,
        'examples_per_sec': history['examples_per_sec'], 'train_loss': history['train_loss'][-1],
        'test_acc': history['test_acc'][-1], 'test_auc': history['test_auc'][-1],
        'devices': history['devices'], 'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
        'printed': out.getvalue().strip().splitlines()[-3:]}))


# ----------------------------------------------------------------------------- parent side

def run_child(model, path, seed, epochs, env, log):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', model, path, str(seed),
           '--epochs', str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('BENCH ')]
    if proc.returncode != 0 or not lines:
        tail = '\n'.join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f'{model}/{path} seed {seed} failed (exit {proc.returncode}):\n{tail}')
    r = json.loads(lines[-1][len('BENCH '):])
    log(f'  {model:7s} {path:10s} seed {seed}: {r["epochs"]} epochs in {r["wall_s"]:7.1f} s '
        f'(CPU {r["cpu_s"]:.1f} s; {r["epoch_s"]:.2f} s an epoch; 30 epochs '
        f'{r["projected_s"]:.1f} s), test AUC {r["test_auc"]:.4f}')
    return r


def summarize(runs, models, paths):
    """Per model and path, medians over seeds; the 30-epoch time of every path (run or
    projected) and the book's over the fast path's."""
    summary = {}
    for model in models:
        rows = {}
        for path in paths:
            rs = [r for r in runs if r['model'] == model and r['path'] == path]
            if rs:
                rows[path] = {k: statistics.median(r[k] for r in rs) for k in (
                    'wall_s', 'data_s', 'epoch_s', 'projected_s', 'examples_per_sec',
                    'test_auc', 'test_acc', 'cpu_s', 'projected_cpu_s')}
                rows[path].update(epochs=rs[0]['epochs'], runs=len(rs),
                                  projected=path in BOUNDED)
        entry = {'paths': rows}
        if 'fast' in rows:
            entry['fast_30_s'] = rows['fast']['projected_s']
            entry['fast_30_cpu_s'] = rows['fast']['projected_cpu_s']
            entry['target_met'] = entry['fast_30_s'] < TARGET_S
            entry['target_met_cpu'] = entry['fast_30_cpu_s'] < TARGET_S
            for ref in ('book', 'faithful'):
                if ref in rows:
                    entry[f'speedup_vs_{ref}'] = rows[ref]['projected_s'] / entry['fast_30_s']
                    entry[f'cpu_speedup_vs_{ref}'] = (rows[ref]['projected_cpu_s']
                                                      / entry['fast_30_cpu_s'])
        if 'torch-fast' in rows:
            entry['torch_fast_30_s'] = rows['torch-fast']['wall_s']
            if 'torch' in rows:
                entry['torch_speedup'] = rows['torch']['projected_s'] / rows['torch-fast']['wall_s']
        summary[model] = entry
    return summary


def markdown(report):
    """The section bench.md gets for the click models."""
    lines = ['## FM and DeepFM: the book\'s code against the fast path (MovieLens 100K as click '
             'data, the book\'s settings, 30 epochs)', '',
             f'Epochs timed: the fast paths {report.get("fast_epochs", 30)}; '
             f'{", ".join(BOUNDED)} '
             f'{report["bounded_epochs"]}, projected to 30 (data time + 30 x the mean epoch). '
             f'Seeds {report["seeds"]}, medians. Load average at start '
             f'{tuple(round(x, 2) for x in report.get("loadavg_start", ()))}, at end '
             f'{tuple(round(x, 2) for x in report.get("loadavg_end", ()))}.', '',
             '| model | path | epochs run | wall (s) | CPU (s) | data (s) | s/epoch '
             '| 30 epochs (s) | 30 epochs, CPU (s) | examples/s | book\'s test acc '
             '| exact test AUC |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for model, entry in report['summary'].items():
        for path, r in entry['paths'].items():
            mark = ' (projected)' if r['projected'] else ''
            lines.append(f'| {model} | {path} | {r["epochs"]} | {r["wall_s"]:.1f} | '
                         f'{r["cpu_s"]:.1f} | {r["data_s"]:.1f} | {r["epoch_s"]:.2f} | '
                         f'{r["projected_s"]:.1f}{mark} | {r["projected_cpu_s"]:.1f}{mark} | '
                         f'{r["examples_per_sec"]:,.0f} | {r["test_acc"]:.3f} | '
                         f'{r["test_auc"]:.4f} |')
    lines += ['']
    lines += [f'- {line}' for line in verdict_lines(report)]
    lines += ['', 'The test AUC of a bounded path is after its few epochs, not 30; the book\'s '
              'test accuracy counts probabilities equal to the labels (see docs/ctr.md).', '']
    return '\n'.join(lines)


def verdict_lines(report):
    out = []
    for model, e in report['summary'].items():
        if 'fast_30_s' not in e:
            out.append(f'{model}: the fast path was not run')
            continue
        ratio = (f'; the book\'s code takes {e["speedup_vs_book"]:.1f}x its wall time '
                 f'({e["cpu_speedup_vs_book"]:.1f}x its CPU time)' if 'speedup_vs_book' in e
                 else '')
        out.append(f'{model}: the fast path\'s 30 epochs take {e["fast_30_s"]:.1f} s wall, '
                   f'{e["fast_30_cpu_s"]:.1f} s CPU (target < {TARGET_S:.0f} s: wall '
                   f'{"met" if e["target_met"] else "NOT met"}, CPU '
                   f'{"met" if e["target_met_cpu"] else "NOT met"}){ratio}')
    return out


def run(models, paths, repeats, bounded_epochs, env, log, fast_epochs=None):
    """Every configuration in its own child; returns the report (JSON-able). ``fast_epochs``:
    the fast paths' epochs (default the book's 30; fewer for a smoke run)."""
    report = {'seeds': list(range(repeats)), 'bounded_epochs': bounded_epochs, 'runs': [],
              'fast_epochs': fast_epochs or BOOK['fm']['num_epochs']}
    try:
        report['loadavg_start'] = os.getloadavg()
    except OSError:
        pass
    log(f'bench (click models): models {models}, paths {paths}, seeds {report["seeds"]}')
    for seed in range(repeats):
        for model in models:
            for path in paths:
                epochs = (bounded_epochs if path in BOUNDED else
                          fast_epochs or BOOK[model]['num_epochs'])
                report['runs'].append(run_child(model, path, seed, epochs, env, log))
    try:
        report['loadavg_end'] = os.getloadavg()
    except OSError:
        pass
    report['summary'] = summarize(report['runs'], models, paths)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', default=','.join(MODELS))
    parser.add_argument('--paths', default=','.join(PATHS))
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--bounded-epochs', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--out', default=os.path.join(ROOT, 'results'))
    parser.add_argument('--child', nargs=3, metavar=('MODEL', 'PATH', 'SEED'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model, path, seed = args.child
        child(model, path, int(seed), args.epochs)
        return 0
    models = [m for m in args.models.split(',') if m]
    paths = [p for p in args.paths.split(',') if p]
    bad = [x for x in models if x not in MODELS] + [p for p in paths if p not in PATHS]
    if bad:
        parser.error(f'unknown model or path {bad[0]!r}')
    env = dict(os.environ, MPLBACKEND='Agg')
    report = run(models, paths, args.repeats, args.bounded_epochs, env,
                 lambda m: print(m, flush=True))
    text = markdown(report)
    os.makedirs(args.out, exist_ok=True)
    atomic_write_text(os.path.join(args.out, 'bench_ctr.json'),
                      json.dumps(report, indent=2) + '\n')
    atomic_write_text(os.path.join(args.out, 'bench_ctr.md'), text)
    print()
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
