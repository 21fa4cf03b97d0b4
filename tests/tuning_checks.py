"""What tuning must do in every tab, as checks that take the tab's experiments module
(``d2l_recsys.mxnet.experiments`` or ``d2l_recsys.torch.experiments``): tests/test_tuning.py
runs them on the MXNet tab, tests/test_torch_tuning.py on the PyTorch tab. Tiny synthetic
data (tests/conftest.py's ``synthetic_dir``)."""
import os

import numpy as onp
import pandas as pd
import pytest

from d2l_recsys import tuning
from d2l_recsys.experiments import check_settings

from conftest import write_u_data

# Search spaces small enough for the synthetic data (about 300 ratings, 40 items).
SPACE = {'mf': dict(num_factors=('int-log', 2, 8), lr=('log', 0.005, 0.1),
                    wd=('log', 1e-6, 1e-2), batch_size=(16, 32)),
         'autorec': dict(num_hidden=('int-log', 4, 16), lr=('log', 0.005, 0.1),
                         wd=('log', 1e-6, 1e-2), dropout=('float', 0.0, 0.5),
                         batch_size=(8, 16))}
# A learning rate this large over-fits the tiny data within a few epochs.
OVERFIT = dict(num_factors=8, lr=0.05, wd=0, batch_size=16, num_epochs=40, split_mode='random')


def triples(part):
    """A loaded split's (user, item, rating) triples, sorted."""
    u, i, r = (onp.asarray(a) for a in part[:3])
    return sorted(zip(u.tolist(), i.tolist(), r.tolist()))


def holdout(tab, data_dir, seed=0):
    """``seed``'s random split with a validation set of 20% of the training ratings."""
    tab.set_seed(seed)
    return tab.read_holdout(data_dir, 'random', 0.1, 0.2)


def poisoned_copy(tab, source, split_mode, seed, dest):
    """``source``'s ratings written to ``dest`` with every rating of ``seed``'s test split in
    ``tab`` changed (6 - r, or 1 for a 3): same rows, same times, so the split and the
    validation set are the same, only the test ratings differ."""
    df = pd.read_csv(os.path.join(source, 'u.data'), sep='\t', header=None,
                     names=['user_id', 'item_id', 'rating', 'timestamp'])
    tab.set_seed(seed)
    run = tab.read_run_data(source, split_mode, 0.1)
    test = {(u + 1, i + 1) for u, i in zip(run.test[0], run.test[1])}
    hit = onp.array([(u, i) in test for u, i in zip(df.user_id, df.item_id)])
    assert hit.sum() == len(test) > 0
    df.loc[hit, 'rating'] = onp.where(df.rating[hit] == 3, 1, 6 - df.rating[hit])
    write_u_data(str(dest), df)
    return str(dest)


def early_stopping_ends_on_the_best_epoch(tab, data_dir):
    """``fit`` with patience stops after it, and the net holds the best epoch's parameters:
    its validation RMSE is the minimum, not the last epoch's."""
    s = check_settings('mf', **OVERFIT)
    held = holdout(tab, data_dir)
    tab.set_seed(0)
    net, h = tab.fit('mf', s, held.fit, patience=3, verbose=False)
    per_epoch = h['test_rmse_exact_per_epoch']
    assert h['best_epoch'] < h['stopped_epoch'] == len(per_epoch) == h['epoch'][-1] < 40
    assert h['best_rmse'] == min(per_epoch) < per_epoch[-1]
    assert tab.test_rmse('mf', net, held.fit) == pytest.approx(min(per_epoch), abs=1e-6)
    assert h['test_rmse_exact'] == pytest.approx(min(per_epoch), abs=1e-6)


def lr_decay_once_the_validation_rmse_stalls(tab, data_dir):
    """With ``lr_decay`` the run is the same until half the patience has passed without a new
    best, then takes other (smaller) steps; bad factors and a decay without a rule refused."""
    s = check_settings('mf', **OVERFIT)
    held = holdout(tab, data_dir)
    runs = []
    for decay in (None, 0.1):
        tab.set_seed(0)
        runs.append(tab.fit('mf', s, held.fit, patience=6, lr_decay=decay, verbose=False)[1])
    plain, decayed = runs
    assert 'lr_decayed_at' not in plain
    first = decayed['lr_decayed_at'][0]
    per_epoch = decayed['test_rmse_exact_per_epoch']
    # half the patience (3 epochs) without a new best before the first decay
    assert first - (per_epoch.index(min(per_epoch[:first])) + 1) == 3
    assert decayed['train_loss'][:first] == plain['train_loss'][:first]
    assert decayed['train_loss'][first] != plain['train_loss'][first]
    for bad in (1.5, 0):
        with pytest.raises(ValueError, match='lr_decay must be in'):
            tab.fit('mf', s, held.fit, patience=6, lr_decay=bad, verbose=False)
    with pytest.raises(ValueError, match='needs patience'):
        tab.fit('mf', s, held.fit, lr_decay=0.5, verbose=False)


def search_never_reads_the_test_split(tab, data_dir, tmp_path, model, split_mode):
    """The same search on data whose test ratings are poisoned gives the same trials; the
    final report, which reads the test split, sees the poison."""
    seed = 1
    poisoned = poisoned_copy(tab, data_dir, split_mode, seed, tmp_path / 'poisoned')
    records = [tuning.search(model, split_mode, tab=tab, trials=4, seed=seed, data_dir=d,
                             max_epochs=6, patience=2, space=SPACE[model])
               for d in (data_dir, poisoned)]
    clean, dirty = ([(t['value'], t['params'], t['best_epoch']) for t in r['history']]
                    for r in records)
    assert clean == dirty
    assert records[0]['preset'] == records[1]['preset']
    values = {k: v for k, v in records[0]['preset'].items() if k != 'split_mode'}
    reports = [tuning.evaluate(model, split_mode, tab=tab, seeds=[seed], values=values,
                               data_dir=d) for d in (data_dir, poisoned)]
    assert reports[0]['val_rmse_mean'] == reports[1]['val_rmse_mean']
    assert abs(reports[0]['test_rmse_mean'] - reports[1]['test_rmse_mean']) > 0.05
