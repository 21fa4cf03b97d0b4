"""Turn the records of ``python -m d2l_recsys tune`` into the package's tuned presets' evidence.

    python tools/tuned_presets.py [results/tune]     # writes d2l_recsys/evidence.py

Reads ``MODEL-SPLIT.json`` (each with its five-seed evaluation; a model and split without
one keeps the evidence already in the package), writes the table ``TUNED_EVIDENCE`` of
``d2l_recsys/evidence.py`` (what it holds is said there; the rest of that module is kept as it
is) and prints the ``TUNED`` entries to paste into ``d2l_recsys/defaults.py``, so that the
presets and their evidence come from the same search.
"""
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


def around_table(path=EVIDENCE):
    """The module's text before and after its table (docstring, ``tuned_column``): written
    once, there, and kept as it is."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    start = text.index(TABLE)
    end = text.index('\n\n\ndef ', start) + 1   # the table's last line ends at ``end``
    return text[:start], text[end:]


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
        if 'evaluation' not in r:
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
    table = pprint.pformat(table, width=96, sort_dicts=False, compact=True)
    before, after = around_table()
    atomic_write_text(EVIDENCE, before + TABLE + table + '\n' + after)
    for key, values in presets.items():
        body = ', '.join(f'{k}={v!r}' for k, v in values.items())
        print(f'    {key!r}: types.MappingProxyType(dict({body})),')
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
