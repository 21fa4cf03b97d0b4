"""The click models' tables of ``make reproduce`` as files: ``ctr.json``, ``ctr.csv``, ``ctr.md``.

:mod:`d2l_recsys.reproduce_ctr` makes the report (a row per tab and model with its runs, the
checks, the data, versions and times); :func:`write_tables` writes it.
"""
import csv
import io
import json
import os

from .atomic import atomic_write_text
from .reporting import files_and_time_lines, provenance_lines
from .rmse_tables import FRAMEWORKS

__all__ = ['FRAMEWORKS', 'MODEL_LABELS', 'DATASET', 'SUMMARISED', 'write_tables', 'markdown',
           'CSV_FIELDS']

MODEL_LABELS = {'fm': 'FM', 'deepfm': 'DeepFM'}
DATASET = 'ml100k-ctr'
# The table's numbers (mean, std, min and max over seeds) and the run record's key of each.
SUMMARISED = {'book_loss': 'train_loss', 'book_train_acc': 'train_acc',
              'book_test_acc': 'test_acc', 'auc': 'test_auc', 'log_loss': 'test_log_loss',
              'accuracy': 'test_accuracy'}

CSV_FIELDS = (['framework', 'model', 'dataset', 'n_seeds', 'epochs']
              + [f'{name}_{stat}' for name in SUMMARISED for stat in ('mean', 'std', 'min', 'max')]
              + ['tuned_auc_mean', 'tuned_auc_std', 'tuned_log_loss_mean', 'tuned_n',
                 'checks_passed', 'checks_failed', 'seconds_per_run', 'examples_per_sec',
                 'kinds', 'device', 'mxnet', 'torch', 'numpy'])


def _num(value, digits=4):
    return '' if value is None else f'{value:.{digits}f}'


def _f(value, digits=3):
    return '-' if value is None else f'{value:.{digits}f}'


def _pm(row, name, digits=3):
    mean, std = row[f'{name}_mean'], row[f'{name}_std']
    return _f(mean, digits) + ('' if std is None else f' +- {std:.{digits}f}')


def write_tables(report, out_dir):
    """``ctr.json`` (everything), ``ctr.csv`` (a row per tab and model) and ``ctr.md``
    (:func:`markdown`) in ``out_dir``, each written whole; returns their paths."""
    paths = [atomic_write_text(os.path.join(out_dir, 'ctr.json'),
                               json.dumps(report, indent=1, sort_keys=True) + '\n')]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator='\n')
    w.writeheader()
    v = report['versions']
    for row in report['table']:
        tuned = row.get('tuned') or {}
        out = {'framework': row['framework'], 'model': row['model'], 'dataset': DATASET,
               'n_seeds': row['n_seeds'], 'epochs': report['epochs']}
        for name in SUMMARISED:
            for stat in ('mean', 'std', 'min', 'max'):
                out[f'{name}_{stat}'] = _num(row[f'{name}_{stat}'])
        out.update(tuned_auc_mean=_num(tuned.get('auc_mean')),
                   tuned_auc_std=_num(tuned.get('auc_std')),
                   tuned_log_loss_mean=_num(tuned.get('log_loss_mean')),
                   tuned_n='' if tuned.get('n') is None else tuned['n'],
                   checks_passed=all(c['passed'] for c in row['checks'].values()),
                   checks_failed=' '.join(k for k, c in row['checks'].items()
                                          if not c['passed']),
                   seconds_per_run=_num(row['seconds_mean'], 1),
                   examples_per_sec=_num(row['examples_per_sec_mean'], 0),
                   kinds='; '.join(row['kinds']), device='; '.join(row['devices']),
                   mxnet=v.get('mxnet', ''), torch=v.get('torch', ''), numpy=v['numpy'])
        w.writerow(out)
    paths.append(atomic_write_text(os.path.join(out_dir, 'ctr.csv'), buf.getvalue()))
    paths.append(atomic_write_text(os.path.join(out_dir, 'ctr.md'), markdown(report)))
    return paths


def _tuned_cell(row):
    t = row.get('tuned')
    if not t or t.get('auc_mean') is None:
        return '-'
    std = '' if t.get('auc_std') is None else f' +- {t["auc_std"]:.4f}'
    loss = '' if t.get('log_loss_mean') is None else f', log loss {t["log_loss_mean"]:.3f}'
    return f'{t["auc_mean"]:.4f}{std}{loss} (n={t["n"]})'


def _checks_cell(row):
    failed = [k for k, c in row['checks'].items() if not c['passed']]
    return 'all ok' if not failed else '**FAILED**: ' + ', '.join(failed)


def _per_seed(runs):
    return ', '.join(f'seed {r["seed"]}: {_f(r["test_acc"])} / {_f(r["test_auc"], 4)} / '
                     f'{_f(r["test_accuracy"])} ({r["kind"]})'
                     for r in sorted(runs, key=lambda r: r['seed']))


def _label(row):
    return f'{FRAMEWORKS[row["framework"]]} {MODEL_LABELS[row["model"]]}'


def _notebook_findings(findings):
    """The lines on what the FM and DeepFM notebooks measured beside the book's cells."""
    models = [m for m in MODEL_LABELS if m in findings]
    if not models:
        return []
    lines = ['', '## What the notebooks measured beside the book\'s cells', '']
    for m in models:
        share = findings[m].get('saturated')
        if share is not None:
            lines.append(f'* {MODEL_LABELS[m]} (MXNet notebook, seed 0): {share:.1%} of the '
                         'test probabilities are exactly 0.0 or 1.0 after training.')
    compared = [m for m in models if 'book_loss' in findings[m] and 'from_sigmoid' in findings[m]]
    if compared:
        lines += ['', 'The same model, seed and batches trained with the book\'s loss and with '
                  'the cross-entropy of its own probability (`from_sigmoid=True`), on the '
                  'fast path, for the epochs shown (the notebooks\' comparison):', '',
                  '| model | epochs | loss | book\'s test acc | exact test AUC | exact log loss '
                  '| accuracy at 0.5 |', '|---|---|---|---|---|---|---|']
        for m in compared:
            for key, name in (('book_loss', 'the book\'s'), ('from_sigmoid',
                                                             '`from_sigmoid=True`')):
                r = findings[m][key]
                lines.append(f'| {MODEL_LABELS[m]} | {r["epochs"]} | {name} | '
                             f'{_f(r["test_acc"])} | {_f(r["test_auc"], 4)} | '
                             f'{_f(r["test_log_loss"])} | {_f(r["test_accuracy"])} |')
    return lines


def markdown(report):
    """``ctr.md``: the table, where each number comes from, the checks, the data, files and
    times."""
    data = report['data']
    lines = ['# Reproduced: FM and DeepFM on MovieLens 100K as click data', '']
    if report['quick']:
        lines += [f'**QUICK RUN** (`--quick`: {report["epochs"]} epochs, few seeds). These '
                  'numbers only check the plumbing; the checks are not applied. Run '
                  '`make reproduce` for the real figures.', '']
    lines += provenance_lines(report, '`python -m d2l_recsys.reproduce` (part `ctr`)')
    for note in report.get('notes') or []:
        lines += ['', f'{note[0].upper()}{note[1:]}.']
    s_fm, s_deep = report['settings']['fm'], report['settings']['deepfm']
    lines += [
        '',
        '**What the book publishes.** The book trains FM and DeepFM on its advertising data '
        '(`ctr`: 34 anonymous fields) and prints that run\'s lines; it publishes no number for '
        f'MovieLens. Here both run with the book\'s settings (FM: {s_fm["num_factors"]} '
        f'factors, Adam with lr {s_fm["lr"]}; DeepFM: {s_deep["num_factors"]} factors, an MLP '
        f'of {"-".join(map(str, s_deep["mlp_dims"]))} units with dropout '
        f'{s_deep["drop_rate"]}, lr {s_deep["lr"]}; batch {s_fm["batch_size"]}, '
        f'{report["epochs"]} epochs, the book\'s loss and `train_ch13`) on MovieLens 100K as '
        f'click data (`{DATASET}`: the label is a rating of 4 or 5; docs/ctr.md), so no number '
        'below is compared with a published one. What is checked instead is listed under '
        '"Checks".',
        '',
        '**Which numbers.** *The book\'s* are what its code computes and prints after the last '
        'epoch: the loss is `SigmoidBinaryCrossEntropyLoss` of a model that already ends with a '
        'sigmoid (a second sigmoid: it cannot fall below '
        f'{report["loss_floor"]:.3f} on this training data), and the accuracies compare the '
        'predicted probability with the 0/1 label for equality, so they count only outputs '
        'saturated to exactly 0 or 1 (the test accuracy over the test loader\'s whole batches). '
        '*Exact* are those of the trained model\'s own probability on the whole test set: the '
        'AUC, the log loss (probabilities clipped to [1e-7, 1 - 1e-7]) and the accuracy at 0.5.',
        '',
        'Which code produced each number (listed per seed below): **notebook** = the book\'s '
        'cells as `notebooks/09-fm-mxnet.ipynb` and `10-deepfm-mxnet.ipynb` run them (seed 0 '
        'of the MXNet rows, when the notebooks ran); **fast path** = '
        '`d2l_recsys.mxnet.train_fm/train_deepfm(fast=True)` (the same batches and numbers as '
        'the book\'s code, seed for seed, sooner); **book code** = the same functions without '
        '`fast`; **PyTorch tab** = `d2l_recsys.torch.train_fm/train_deepfm` (the same cells in '
        'PyTorch, with PyTorch\'s own random streams: its seeds are not the MXNet seeds\' '
        'twins).',
        '',
        f'## The book\'s experiments on `{DATASET}`',
        '',
        '| tab | model | book\'s loss | book\'s train acc | book\'s test acc | exact test AUC | '
        'exact log loss | accuracy at 0.5 | tuned: exact test AUC | seeds | checks | '
        'time per run, examples/s (training) |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for row in report['table']:
        eps = row['examples_per_sec_mean']
        lines.append(
            f'| {FRAMEWORKS[row["framework"]]} | {MODEL_LABELS[row["model"]]} | '
            f'{_pm(row, "book_loss")} | {_pm(row, "book_train_acc")} | '
            f'{_pm(row, "book_test_acc")} | {_pm(row, "auc", 4)} | {_pm(row, "log_loss")} | '
            f'{_pm(row, "accuracy")} | {_tuned_cell(row)} | {row["n_seeds"]} | '
            f'{_checks_cell(row)} | {_f(row["seconds_mean"], 1)} s, '
            f'{"-" if eps is None else f"{eps:,.0f}"}/s |')
    lines += ['', 'Mean +- std over the seeds. The "tuned" column is the tuned presets\' '
              'exact test AUC (and log loss) as recorded when they were chosen (settings chosen '
              'on a validation split cut from the training file, the test file read once '
              'after training; not re-run here); `-` where no preset is recorded.', '',
              'Per seed (the book\'s test acc / exact test AUC / accuracy at 0.5, and the code '
              'that produced it):', '']
    for row in report['table']:
        lines.append(f'* {_label(row)}: {_per_seed(row["runs"])}')
    lines += ['', '## Checks', '',
              'With no published number to meet, each row (means over the seeds) is checked '
              'for what the book\'s code shows on click data it learns from:', '']
    lines += [f'* `{name}`: {c["rule"]}. {c["why"]}' for name, c in report['checks'].items()]
    lines.append('')
    for row in report['table']:
        lines.append(f'* {_label(row)}: ' + '; '.join(
            f'{name} {"ok" if c["passed"] else "**FAILED**"} ({c["measured"]})'
            for name, c in row['checks'].items()))
    if report['quick']:
        lines += ['', '(A quick run does not apply them: two epochs do not saturate the '
                  'model.)']
    lines += _notebook_findings(report.get('notebook_findings') or {})
    dims = ', '.join(map(str, data['field_dims']))
    fields = f' ({", ".join(data["fields"])})' if data.get('fields') else ''
    lines += ['', '## Data', '',
              f'`{DATASET}` in {data["folder"]}, built from the MovieLens 100K in '
              f'{report["data_dir"]}: {data["train_lines"]:,} training and '
              f'{data["test_lines"]:,} test lines, click rate {data["train_click_rate"]:.3f} in '
              f'training and {data["test_click_rate"]:.3f} in test; {data["num_feat"]} '
              f'fields{fields}, field dims [{dims}] (`CTRDataset`\'s `min_threshold` 4).']
    if report.get('notebook_records'):
        lines += ['', 'Values read from the notebooks\' records: ' + '; '.join(
            f'`{name}`: {", ".join(keys) or "none"}'
            for name, keys in report['notebook_records'].items()) + '.']
    lines += files_and_time_lines(report)
    return '\n'.join(lines) + '\n'
