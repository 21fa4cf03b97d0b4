"""`make bench`'s ranking rows: NeuMF and Caser, the book's code against the fast paths.

The goal: with the book's settings (NeuMF 10 epochs, Caser 8, the hit rate and AUC evaluated
every epoch) each fast path, MXNet's and PyTorch's, trains and evaluates in under a minute on
the project's 2-core CPU. Three rows per model, each a fresh child process:

* ``book (estimated)``: the book's cells (the package's verbatim copies of ``PRDataset``,
  ``SeqDataset``, ``NeuMF``, ``Caser`` and ``evaluate_ranking``, and the loop body of
  ``train_ranking``, with the book's 4-worker DataLoader) are far too slow to run whole (the
  book comments Caser's training out: "> 1h"), so a bounded part of them is timed and the
  rest extrapolated, and the output says so: the data preparation (reading, the book's split
  and implicit loading, and for Caser ``SeqDataset`` on a share of the users, extrapolated
  linearly in the rows), ``BATCHES`` training batches, and the book's evaluation of
  ``EVAL_USERS`` users. Estimate = data + epochs x (batches per epoch x seconds per batch +
  users x seconds per user).
* ``fast``: ``d2l_recsys.mxnet.experiments.train_neumf/train_caser(fast=True)``, run whole.
* ``torch-fast``: the PyTorch tab's, run whole.

    python benchmarks/bench_ranking.py [--repeats 1] [--models neumf,caser]
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
from d2l_recsys.defaults import BOOK  # noqa: E402 (framework-free)

MODELS = ('neumf', 'caser')
PATHS = ('book', 'fast', 'torch-fast')
GOAL_S = 60.0          # each fast path, the book's epochs with evaluation every epoch
BATCHES = {'neumf': 10, 'caser': 3}
EVAL_USERS = 20
CASER_USERS = 60       # SeqDataset is timed on the first users' rows


# ----------------------------------------------------------------------------- child side

def _book_data(data_dir):
    """The data cell of both sections with the book's functions (the package's copies)."""
    from d2l_recsys.mxnet import movielens as d2l
    df, num_users, num_items = d2l.read_data_ml100k(data_dir)
    train_data, test_data = d2l.split_data_ml100k(df, num_users, num_items, 'seq-aware')
    users_train, items_train, _, candidates = d2l.load_data_ml100k(
        train_data, num_users, num_items, feedback='implicit')
    _, _, _, test_iter = d2l.load_data_ml100k(test_data, num_users, num_items,
                                              feedback='implicit')
    return num_users, num_items, users_train, items_train, candidates, test_iter


def _time_batches(net, train_iter, loss, trainer, devices, count):
    """Seconds per batch of the body of the book's ``train_ranking`` (DataLoader included)."""
    from mxnet import autograd, gluon
    done, tic = 0, time.perf_counter()
    while done < count:
        for values in train_iter:
            input_data = []
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            with autograd.record():
                p_pos = [net(*t) for t in zip(*input_data[:-1])]
                p_neg = [net(*t) for t in zip(*input_data[:-2], input_data[-1])]
                ls = [loss(p, n) for p, n in zip(p_pos, p_neg)]
            [l.backward(retain_graph=False) for l in ls]
            sum([l.asnumpy() for l in ls]).mean()
            trainer.step(values[0].shape[0])
            done += 1
            if done == count:
                break
    return (time.perf_counter() - tic) / count


class _Enough(Exception):
    """Raised to stop the book's evaluator once it has evaluated the users to time."""


class _CountingTestInput(dict):
    """The book's ``test_iter`` that stops ``evaluate_ranking`` after ``count`` users: the
    evaluator reads a user's held-out items last, once that user is ranked."""
    def __init__(self, test_input, count):
        super().__init__(test_input)
        self.count, self.seen = count, 0

    def __getitem__(self, key):
        self.seen += 1
        value = super().__getitem__(key)
        if self.seen > self.count:
            raise _Enough
        return value


def _time_users(net, test_input, seq, candidates, num_users, devices, count):
    """Seconds per user of the book's ``evaluate_ranking`` (the package's verbatim copy),
    stopped after ``count`` users (it makes a DataLoader per user, as the book does)."""
    from mxnet import autograd
    from d2l_recsys.mxnet.neumf import evaluate_ranking
    counting = _CountingTestInput(test_input, count)
    tic = time.perf_counter()
    with autograd.predict_mode():
        try:
            evaluate_ranking(net, counting, seq, candidates, num_users, None, devices)
        except _Enough:
            pass
    return (time.perf_counter() - tic) / count


def book_estimate(model, seed, data_dir, num_epochs):
    """The estimate of the book's run and its parts (see the module's docstring)."""
    import random
    from d2l_recsys import compat  # noqa: F401
    import mxnet as mx
    from mxnet import gluon
    from d2l_recsys import mxnet as d2l
    from d2l_recsys.rank_data import seq_windows
    mx.random.seed(seed)
    random.seed(seed)
    devices = [mx.cpu()]
    s = BOOK[model]
    tic = time.perf_counter()
    num_users, num_items, users_train, items_train, candidates, test_iter = _book_data(
        data_dir)
    data_s = time.perf_counter() - tic
    if model == 'neumf':
        dataset = d2l.PRDataset(users_train, items_train, candidates, num_items)
        examples, seq, part = len(users_train), None, {}
        net = d2l.NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10])
    else:
        # SeqDataset on the first CASER_USERS users' rows, extrapolated linearly in the rows.
        rows = sum(1 for u in users_train if u < CASER_USERS)
        tic = time.perf_counter()
        dataset = d2l.SeqDataset(users_train[:rows], items_train[:rows], s['L'], num_users,
                                 num_items, candidates)
        seq_s = time.perf_counter() - tic
        data_s += seq_s * len(users_train) / rows
        examples = len(seq_windows(users_train, items_train, s['L'], num_users))
        seq, part = dataset.test_seq, {'seq_dataset_s': seq_s, 'seq_dataset_rows': rows}
        net = d2l.Caser(10, num_users, num_items, s['L'])
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': s['lr'], 'wd': s['wd']})
    train_iter = gluon.data.DataLoader(dataset, s['batch_size'], True, last_batch='rollover',
                                       num_workers=d2l.get_dataloader_workers())
    batch_s = _time_batches(net, train_iter, d2l.BPRLoss(), trainer, devices, BATCHES[model])
    user_s = _time_users(net, test_iter, seq, candidates, num_users, devices, EVAL_USERS)
    per_epoch = examples // s['batch_size']
    wall = data_s + num_epochs * (per_epoch * batch_s + num_users * user_s)
    return {'wall_s': wall, 'estimated': True, 'data_s': data_s, 'batch_s': batch_s,
            'batches_per_epoch': per_epoch, 'user_eval_s': user_s, 'users': num_users,
            'timed_batches': BATCHES[model], 'timed_users': EVAL_USERS, **part}


def fast_run(model, framework, seed, data_dir, num_epochs):
    """A whole fast run of a tab: ``(wall seconds, its history)``."""
    import contextlib
    import io
    if framework == 'mxnet':
        from d2l_recsys import compat  # noqa: F401
        from d2l_recsys.mxnet import experiments
    else:
        from d2l_recsys.torch import experiments
    train = experiments.train_neumf if model == 'neumf' else experiments.train_caser
    tic = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        _, history, _ = train(seed=seed, devices='cpu', data_dir=data_dir,
                              num_epochs=num_epochs, fast=True, plot=False, progress=False)
    return time.perf_counter() - tic, history


def child(model, path, seed, data_dir, num_epochs):
    import resource
    if path == 'book':
        result = book_estimate(model, seed, data_dir, num_epochs)
    else:
        wall, history = fast_run(model, 'mxnet' if path == 'fast' else 'torch', seed,
                                 data_dir, num_epochs)
        result = {'wall_s': wall, 'estimated': False,
                  'train_s': float(sum(history['train_seconds'])),
                  'hit_rate': history['hit_rate'][-1], 'auc': history['auc'][-1],
                  'exact': history['exact'][-1],
                  'examples_per_sec': history['examples_per_sec']}
    result.update(model=model, path=path, seed=seed, num_epochs=num_epochs,
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    print('BENCH ' + json.dumps(result))


# ----------------------------------------------------------------------------- parent side

def run_child(model, path, seed, data_dir, num_epochs, log, env):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', model, path, str(seed),
           '--data-dir', data_dir, '--epochs', str(num_epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('BENCH ')]
    if proc.returncode != 0 or not lines:
        tail = '\n'.join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f'{model}/{path} seed {seed} failed (exit {proc.returncode}):\n'
                           f'{tail}')
    result = json.loads(lines[-1][len('BENCH '):])
    what = ('estimated' if result['estimated'] else
            f'hit rate {result["hit_rate"]:.3f}, exact HR@10 {result["exact"]["hr@10"]:.3f}')
    log(f'  {model:6s} {path:10s} seed {seed}: {result["wall_s"]:8.1f} s ({what})')
    return result


def summarize(runs, models):
    """Per model: the median seconds of each path, the ratios against the book's estimate and
    the goal's verdict for each fast path."""
    out = {}
    for model in models:
        rows = {}
        for path in PATHS:
            rs = [r for r in runs if r['model'] == model and r['path'] == path]
            if rs:
                rows[path] = dict(min(rs, key=lambda r: r['seed']))
                rows[path]['wall_s'] = statistics.median(r['wall_s'] for r in rs)
                rows[path]['runs'] = len(rs)
        entry = {'rows': rows, 'goal_s': GOAL_S}
        book = rows.get('book', {}).get('wall_s')
        for path in ('fast', 'torch-fast'):
            if path in rows:
                wall = rows[path]['wall_s']
                entry[path] = {'wall_s': wall, 'met': wall < GOAL_S,
                               'speedup_vs_book': book / wall if book else None}
        out[model] = entry
    return out


def verdict_lines(summary):
    """One line per model and fast path: its time against the goal and the book's code."""
    lines = []
    tabs = {'fast': 'MXNet', 'torch-fast': 'PyTorch'}
    for model, entry in summary.items():
        for path, tab in tabs.items():
            if path not in entry:
                continue
            e = entry[path]
            ratio = (f', {e["speedup_vs_book"]:.0f}x sooner than the book\'s code (estimated)'
                     if e['speedup_vs_book'] else '')
            lines.append(f'{model}: {tab} fast path {e["wall_s"]:.1f} s for the book\'s '
                         f'{BOOK[model]["num_epochs"]} epochs with evaluation every epoch '
                         f'(goal < {GOAL_S:.0f} s: {"met" if e["met"] else "NOT met"}){ratio}')
    return lines


def markdown(summary, load=None):
    """The ranking section of bench.md."""
    out = ['## Ranking: NeuMF and Caser', '',
           "The book's code is timed in part and extrapolated (it takes hours): the data "
           f'preparation, {BATCHES["neumf"]} (NeuMF) or {BATCHES["caser"]} (Caser) training '
           f"batches with the book's 4-worker DataLoader, and the book's evaluation of "
           f'{EVAL_USERS} users; Caser\'s SeqDataset on the first {CASER_USERS} users\' rows, '
           'extrapolated linearly in the rows. The fast paths run whole.', '']
    if load:
        out += [f'Load average at the start and the end: {load}.', '']
    out += ['| model | path | seconds | book hit rate | exact HR@10 | exact AUC | parts |',
            '|---|---|---|---|---|---|---|']
    for model, entry in summary.items():
        for path, row in entry['rows'].items():
            if row.get('estimated'):
                parts = (f'data {row["data_s"]:.0f} s, {row["batch_s"]:.2f} s/batch x '
                         f'{row["batches_per_epoch"]}, {row["user_eval_s"]:.3f} s/user x '
                         f'{row["users"]}, per epoch')
                out.append(f'| {model} | book (estimated) | {row["wall_s"]:,.0f} | | | | '
                           f'{parts} |')
            else:
                out.append(f'| {model} | {path} | {row["wall_s"]:.1f} | {row["hit_rate"]:.3f} '
                           f'| {row["exact"]["hr@10"]:.3f} | {row["exact"]["auc"]:.3f} | '
                           f'{row["runs"]} run(s): the median time, seed {row["seed"]}\'s '
                           'metrics |')
    out += [''] + [f'- {line}' for line in verdict_lines(summary)] + ['']
    return '\n'.join(out)


def run_all(models, repeats, data_dir, log, env=None, epochs=None):
    """Every ranking row (the book's estimate once per model, the fast paths ``repeats``
    times, the order rotated by seed); returns ``{'runs', 'summary', 'markdown'}``."""
    env = dict(os.environ, MPLBACKEND='Agg') if env is None else env
    try:
        start_load = os.getloadavg()
    except OSError:
        start_load = None
    runs = []
    for model in models:
        num_epochs = epochs or BOOK[model]['num_epochs']
        runs.append(run_child(model, 'book', 0, data_dir, num_epochs, log, env))
        for seed in range(repeats):
            order = ['fast', 'torch-fast'][seed % 2:] + ['fast', 'torch-fast'][:seed % 2]
            for path in order:
                runs.append(run_child(model, path, seed, data_dir, num_epochs, log, env))
    summary = summarize(runs, models)
    try:
        end_load = os.getloadavg()
    except OSError:
        end_load = None
    load = None
    if start_load and end_load:
        load = (f'{", ".join(f"{x:.1f}" for x in start_load)} and '
                f'{", ".join(f"{x:.1f}" for x in end_load)} (1, 5, 15 minutes)')
    return {'runs': runs, 'summary': summary, 'loadavg_start': start_load,
            'loadavg_end': end_load, 'markdown': markdown(summary, load)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--models', default=','.join(MODELS))
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--epochs', type=int, default=None)
    parser.add_argument('--child', nargs=3, metavar=('MODEL', 'PATH', 'SEED'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model, path, seed = args.child
        child(model, path, int(seed), args.data_dir,
              args.epochs or BOOK[model]['num_epochs'])
        return 0
    from d2l_recsys import fetch
    data_dir = fetch.ml100k_dir(args.data_dir, log=print)
    models = [m for m in args.models.split(',') if m]
    report = run_all(models, args.repeats, data_dir, print, epochs=args.epochs)
    print(report['markdown'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
