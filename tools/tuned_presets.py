"""Turn the records of ``python -m d2l_recsys tune`` into the package's tuned presets' evidence.

    python tools/tuned_presets.py [results/tune]     # writes d2l_recsys/evidence.py and
                                                     # d2l_recsys/rank_evidence.py
    python tools/tuned_presets.py --evaluate caser --framework torch --seeds 0,1,2,3,4
                                                     # one more evaluation of a ranking preset

Reads ``MODEL-SPLIT.json`` (each with its five-seed evaluation; a model and split without
one keeps the evidence already in the package), writes the table ``TUNED_EVIDENCE`` of
``d2l_recsys/evidence.py`` (what it holds is said there; the rest of that module is kept as it
is) and prints the ``TUNED`` entries to paste into ``d2l_recsys/defaults.py``, so that the
presets and their evidence come from the same search.

The ranking models (NeuMF, Caser; :mod:`d2l_recsys.rank_tuning`): ``neumf-seq-aware.json``
and ``caser-seq-aware.json`` (the search and its evaluation) and the further evaluations of
the preset now in ``TUNED`` that ``--evaluate`` writes beside them
(``MODEL-seq-aware.FRAMEWORK.SEEDS.json``: another tab, seeds used in no choice, or
``--preset book`` for the book's cell) make the table ``RANKING_EVIDENCE`` of
``d2l_recsys/rank_evidence.py``; an evaluation of another preset than the one in ``TUNED`` is
left out, saying so.
"""
import argparse
import glob
import json
import os
import pprint
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from d2l_recsys.atomic import atomic_write_text  # noqa: E402

EVIDENCE = os.path.join(ROOT, 'd2l_recsys', 'evidence.py')
TABLE = 'TUNED_EVIDENCE = '
RANK_EVIDENCE = os.path.join(ROOT, 'd2l_recsys', 'rank_evidence.py')
RANK_TABLE = 'RANKING_EVIDENCE = '
RANKING = ('neumf', 'caser')


def around_table(path=EVIDENCE, table=TABLE):
    """The module's text before and after its table (docstring, ``tuned_column``): written
    once, there, and kept as it is."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    start = text.index(table)
    end = text.index('\n\n\n', start) + 1   # the table's last line ends at ``end``
    return text[:start], text[end:]


def write_table(path, table, value):
    before, after = around_table(path, table)
    text = pprint.pformat(value, width=96, sort_dicts=False, compact=True)
    atomic_write_text(path, before + table + text + '\n' + after)


def _round(obj):
    if isinstance(obj, float):
        return float(f'{obj:.5g}')
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def main(folder=os.path.join(ROOT, 'results', 'tune')):
    # A model and split without a record here keeps the evidence it has in the package.
    from d2l_recsys.evidence import TUNED_EVIDENCE
    table, presets = dict(TUNED_EVIDENCE), {}
    for path in sorted(glob.glob(os.path.join(folder, '*.json'))):
        r = json.load(open(path))
        if 'evaluation' not in r or r['model'] in RANKING:
            continue
        e = r['evaluation']
        key = (r['model'], r['split_mode'])
        table[key] = _round({
            'trials': r['trials'], 'search_seed': r['seed'],
            'validation_seeds': r.get('validation_seeds', [r['seed']]),
            'search_seconds': r['search_seconds'],
            'best_validation_rmse': r['best_validation_rmse'],
            'pruned_trials': sum(t['state'] == 'PRUNED' for t in r['history']),
            'per_seed': e['per_seed'], 'val_rmse_mean': e['val_rmse_mean'],
            'val_rmse_std': e['val_rmse_std'], 'test_rmse_mean': e['test_rmse_mean'],
            'test_rmse_std': e['test_rmse_std']})
        # Full precision: `train --preset tuned --seed S` then repeats seed S's evidence.
        presets[key] = {k: v for k, v in r['preset'].items() if k != 'split_mode'}
    write_table(EVIDENCE, TABLE, table)
    presets.update(ranking_evidence(folder))
    for key, values in presets.items():
        body = ', '.join(f'{k}={v!r}' for k, v in values.items())
        print(f'    {key!r}: types.MappingProxyType(dict({body})),')
    return 0


def _evaluation(e, choice_seeds):
    out = {k: e[k] for k in ('framework', 'preset', 'values', 'seeds', 'per_seed',
                             'validation_mean', 'validation_std', 'test_mean', 'test_std')
           if k in e}
    out.update(source='python -m d2l_recsys tune',
               seeds_in_choice=sorted(set(e['seeds']) & set(choice_seeds)))
    return _round(out)


def ranking_evidence(folder):
    """Write ``RANKING_EVIDENCE`` from ``folder``'s ranking records (see the module's
    docstring); returns the searched presets, ``{(model, split): values}``."""
    from d2l_recsys.defaults import TUNED
    from d2l_recsys.rank_evidence import RANKING_EVIDENCE
    table, presets = dict(RANKING_EVIDENCE), {}
    for model in RANKING:
        key = (model, 'seq-aware')
        path = os.path.join(folder, f'{model}-seq-aware.json')
        if not os.path.exists(path):
            continue
        r = json.load(open(path))
        if 'evaluation' not in r:
            continue
        presets[key] = dict(r['preset'])
        evaluations = [r['evaluation']]
        for more in sorted(glob.glob(os.path.join(folder, f'{model}-seq-aware.*.json'))):
            e = json.load(open(more))
            if e['preset'] == 'tuned' and e['values'] != r['preset']:
                print(f'{more}: another preset than the search chose; left out',
                      file=sys.stderr)
                continue
            evaluations.append(e)
        if r['preset'] != dict(TUNED.get(key, {})):
            print(f'{key}: the search chose {r["preset"]}, not the preset in TUNED: paste '
                  'it there (below)', file=sys.stderr)
        table[key] = {
            'preset': r['preset'],
            'search': _round({
                'framework': r['evaluation']['framework'], 'source': 'python -m d2l_recsys tune',
                'trials': r['trials'], 'search_seed': r['seed'],
                'choice_seeds': r['validation_seeds'],
                'max_epochs': r['max_epochs'], 'patience': r['patience'],
                'search_seconds': r['search_seconds'],
                'best_validation_hr10': r['best_validation_hr10'],
                'best_epochs': r['best_epochs'],
                'pruned_trials': sum(t['state'] == 'PRUNED' for t in r['history'])}),
            'choice_seeds': r['validation_seeds'],
            'evaluations': [_evaluation(e, r['validation_seeds']) for e in evaluations]}
    write_table(RANK_EVIDENCE, RANK_TABLE, table)
    return presets


def evaluate(model, framework, seeds, preset, folder, data_dir=None,
             stages=('validation', 'test')):
    """One more evaluation of a ranking model's preset (``TUNED``'s, or the book's), written
    to ``folder/MODEL-seq-aware.FRAMEWORK.SEEDS.json``."""
    import importlib
    from d2l_recsys import checks, rank_tuning
    from d2l_recsys.atomic import atomic_write_text
    importlib.import_module(f'd2l_recsys.{framework}')
    tab = importlib.import_module(f'd2l_recsys.{framework}.experiments')
    seeds = checks.parse_seeds(seeds, '--seeds')
    tail = f'{preset}.' if preset != 'tuned' else ''
    out = os.path.join(folder, f'{model}-seq-aware.{tail}{framework}.'
                               f'{"-".join(map(str, seeds))}.json')
    e = rank_tuning.evaluate(model, tab=tab, seeds=seeds, name=preset, data_dir=data_dir,
                             log=lambda m: print(m, file=sys.stderr, flush=True),
                             stages=stages)
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(out, json.dumps(e, indent=2) + '\n')
    print(rank_tuning.evaluation_line(e))
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('folder', nargs='?', default=os.path.join(ROOT, 'results', 'tune'))
    p.add_argument('--evaluate', choices=RANKING, metavar='MODEL',
                   help='evaluate a ranking preset instead (neumf or caser)')
    p.add_argument('--framework', choices=['mxnet', 'torch'], default='mxnet')
    p.add_argument('--seeds', default='0,1,2,3,4')
    p.add_argument('--preset', choices=['tuned', 'book'], default='tuned')
    p.add_argument('--data', default=None)
    p.add_argument('--test-only', action='store_true',
                   help='the test runs alone (seeds used in no choice)')
    a = p.parse_args()
    if a.evaluate:
        sys.exit(evaluate(a.evaluate, a.framework, a.seeds, a.preset, a.folder, a.data,
                          ('test',) if a.test_only else ('validation', 'test')))
    sys.exit(main(a.folder))
