r"""Baselines for the click models on the MovieLens click data: logistic regression and LightGBM.

    python tools/click_baselines.py                   # both, the ML-100K cache (minutes)
    python tools/click_baselines.py --data DIR --trials 40 --seeds 0,1,2,3,4

Needs the ``baselines`` extra (scikit-learn, LightGBM). The same files as FM and DeepFM (``train.csv``
and ``test.csv`` of ``download_extract('ml100k-ctr')``) and the same protocol as their tuned
presets (:mod:`d2l_recsys.click_tuning`):

* **validation**: each user's latest 10% of their training lines, cut from the training file
  the way the test file was cut from all the ratings
  (:func:`d2l_recsys.ctr_runs.read_click_holdout`); the feature mapper is built from the rest,
  as ``CTRDataset`` builds it from a training file (values seen fewer than 4 times share their
  field's default index);
* **hyper-parameters** are chosen on the validation AUC alone: logistic regression's inverse
  regularisation ``C`` on a grid; LightGBM's by an Optuna search (TPE, ``--trials``), its
  number of trees by early stopping on the validation AUC;
* **refit**: the chosen settings (and LightGBM's number of trees) trained again on the whole
  training file, with its own mapper;
* **test**: ``test.csv`` is read once, after every choice, for the final numbers: AUC, log
  loss and accuracy at 0.5 of each model's probability. LightGBM has randomness (feature and
  row subsampling, when chosen): it runs once per seed of ``--seeds``; scikit-learn's
  logistic regression (L-BFGS) has none: one run.

**Features.** Logistic regression: the one-hot encoding of the eight fields' mapped values
(one column per index of the embedding table that FM uses; FM's linear part is this model).
LightGBM: the eight mapped values as categorical features.

The record goes to ``--out`` (``results/click_baselines.json``) and a table is printed; the
numbers measured here are in ``d2l_recsys/click_evidence.py`` beside the tuned presets', and in
docs/ctr.md.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from d2l_recsys import clicks, ctr_runs  # noqa: E402
from d2l_recsys.atomic import atomic_write_text  # noqa: E402

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
# LightGBM's search space (names as LightGBM's parameters).
LGB_SPACE = dict(num_leaves=('int-log', 4, 256), learning_rate=('log', 0.01, 0.3),
                 min_data_in_leaf=('int-log', 5, 500), lambda_l2=('log', 1e-3, 100.0),
                 cat_smooth=('log', 1.0, 100.0), cat_l2=('log', 1.0, 100.0),
                 max_cat_threshold=(16, 32, 64, 128), feature_fraction=('float', 0.5, 1.0))
MAX_TREES, EARLY_STOP = 3000, 50


def one_hot(arrays, width):
    """The rows of ``arrays.features`` (indices with the fields' offsets) as a sparse 0/1
    matrix of ``width`` columns."""
    from scipy import sparse
    n, f = arrays.features.shape
    return sparse.csr_matrix((np.ones(n * f, dtype=np.float64),
                              arrays.features.reshape(-1), np.arange(0, n * f + 1, f)),
                             shape=(n, width))


def categories(arrays):
    """The mapped per-field values (no offsets): LightGBM's categorical columns."""
    return arrays.features - arrays.offsets


def metrics(probs, labels):
    m = clicks.click_metrics(np.asarray(probs, dtype=np.float64), labels)
    return {'auc': m['auc'], 'log_loss': m['log_loss'], 'accuracy': m['accuracy']}


# ----------------------------------------------------------------------- logistic regression

def logistic(C, train, width, seed=0):
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=C, solver='lbfgs', max_iter=2000, random_state=seed)
    model.fit(one_hot(train, width), train.labels)
    return model


def run_logistic(held, log, grid=C_GRID):
    """``C`` chosen on the validation AUC, then the refit on the whole training file; returns
    the record (the test file not yet read) and the refit model with its data."""
    fit, val = held.fit.train, held.fit.test
    width = int(fit.field_dims.sum())
    points = []
    for C in grid:
        model = logistic(C, fit, width)
        m = metrics(model.predict_proba(one_hot(val, width))[:, 1], val.labels)
        points.append({'C': C, **{f'val_{k}': v for k, v in m.items()}})
        log(f'logistic regression C={C:g}: validation AUC {m["auc"]:.4f}')
    best = max(points, key=lambda p: p['val_auc'])
    whole = held.whole.train
    model = logistic(best['C'], whole, int(whole.field_dims.sum()))
    return {'method': 'logistic regression (scikit-learn, L-BFGS, one-hot fields)',
            'chosen': {'C': best['C']}, 'validation': best, 'points': points}, model


# ----------------------------------------------------------------------- LightGBM

def lgb_params(values, seed):
    return dict(objective='binary', metric='auc', verbosity=-1, seed=seed, num_threads=1,
                bagging_seed=seed, feature_fraction_seed=seed, deterministic=True,
                force_row_wise=True, **values)


def lgb_train(params, train, rounds, valid=None):
    """A booster of ``rounds`` trees on ``train``'s categorical fields; with ``valid``, stopped
    early on its AUC (``best_iteration``)."""
    import lightgbm as lgb
    names = [f'field{j + 1}' for j in range(train.features.shape[1])]

    def dataset(arrays, reference=None):
        return lgb.Dataset(categories(arrays), arrays.labels, feature_name=names,
                           categorical_feature=names, reference=reference,
                           free_raw_data=False)
    data = dataset(train)
    sets, callbacks = [], []
    if valid is not None:
        sets = [dataset(valid, data)]
        callbacks = [lgb.early_stopping(EARLY_STOP, verbose=False)]
    return lgb.train(params, data, num_boost_round=rounds, valid_sets=sets,
                     callbacks=callbacks)


def run_lightgbm(held, log, trials, seeds, search_seed=0, max_trees=MAX_TREES):
    """An Optuna search of :data:`LGB_SPACE` on the validation AUC (seed ``search_seed``),
    the trees by early stopping; then per seed of ``seeds`` the chosen settings on the
    validation lines again (their trees) and the refit on the whole training file."""
    import optuna
    from d2l_recsys.tuning import suggest
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    fit, val = held.fit.train, held.fit.test

    def objective(trial):
        values = suggest(trial, LGB_SPACE)
        booster = lgb_train(lgb_params(values, search_seed), fit, max_trees, val)
        m = metrics(booster.predict(categories(val), num_iteration=booster.best_iteration),
                    val.labels)
        trial.set_user_attr('trees', booster.best_iteration)
        log(f'LightGBM trial {trial.number + 1}/{trials}: validation AUC {m["auc"]:.4f} '
            f'({booster.best_iteration} trees)')
        return m['auc']
    study = optuna.create_study(direction='maximize',
                                sampler=optuna.samplers.TPESampler(seed=search_seed))
    tic = time.time()
    study.optimize(objective, n_trials=trials)
    chosen = dict(study.best_params)
    runs, models = [], []
    for seed in seeds:
        params = lgb_params(chosen, seed)
        booster = lgb_train(params, fit, max_trees, val)
        trees = booster.best_iteration
        m = metrics(booster.predict(categories(val), num_iteration=trees), val.labels)
        final = lgb_train(params, held.whole.train, trees)
        runs.append({'seed': seed, 'trees': trees, **{f'val_{k}': v for k, v in m.items()}})
        models.append(final)
    record = {'method': 'LightGBM (categorical fields)', 'chosen': chosen,
              'trials': trials, 'search_seed': search_seed,
              'search_seconds': time.time() - tic, 'best_validation_auc': study.best_value,
              'points': [{'params': t.params, 'val_auc': t.value,
                          'trees': t.user_attrs.get('trees')} for t in study.trials],
              'per_seed': runs}
    return record, models


# ----------------------------------------------------------------------- the final numbers

def summarize(rows, keys):
    out = {}
    for key in keys:
        values = [r[key] for r in rows]
        out[f'{key}_mean'] = statistics.mean(values)
        out[f'{key}_std'] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def run(data_dir=None, *, trials=40, seeds=(0, 1, 2, 3, 4), log=print, c_grid=C_GRID,
        max_trees=MAX_TREES):
    """Both baselines on the click data built from ``data_dir`` (default: the cache's
    ML-100K); returns the record. ``test.csv`` is read once, after every choice."""
    held = ctr_runs.read_click_holdout(data_dir)
    record = {'data_dir': held.whole.folder, 'train_lines': held.whole.train.count,
              'validation_lines': held.fit.test.count, 'fit_lines': held.fit.train.count}
    lr, lr_model = run_logistic(held, log, c_grid)
    lgb, lgb_models = run_lightgbm(held, log, trials, seeds, max_trees=max_trees)
    # Every choice is made: now the test file, once.
    data = ctr_runs.read_click_test(held.whole)
    test = data.test
    record['test_lines'] = test.count
    width = int(held.whole.train.field_dims.sum())
    m = metrics(lr_model.predict_proba(one_hot(test, width))[:, 1], test.labels)
    lr['test'] = m
    lr.update({f'test_{k}_mean': v for k, v in m.items()})
    for row, booster in zip(lgb['per_seed'], lgb_models):
        row.update({f'test_{k}': v for k, v in metrics(booster.predict(categories(test)),
                                                       test.labels).items()})
    lgb.update(summarize(lgb['per_seed'], [f'{p}_{k}' for p in ('val', 'test')
                                           for k in ('auc', 'log_loss', 'accuracy')]))
    record['logistic_regression'] = lr
    record['lightgbm'] = lgb
    return record


def table(record):
    lr, lgb = record['logistic_regression'], record['lightgbm']
    lines = ['| method | chosen on validation | validation AUC | test AUC | test log loss '
             '| test accuracy at 0.5 |', '|---|---|---:|---:|---:|---:|']
    lines.append(f'| logistic regression | C = {lr["chosen"]["C"]:g} | '
                 f'{lr["validation"]["val_auc"]:.4f} | {lr["test"]["auc"]:.4f} | '
                 f'{lr["test"]["log_loss"]:.4f} | {lr["test"]["accuracy"]:.4f} |')
    n = len(lgb['per_seed'])
    chosen = ', '.join(f'{k} {v:.3g}' if isinstance(v, float) else f'{k} {v}'
                       for k, v in lgb['chosen'].items())
    lines.append(f'| LightGBM ({n} seeds) | {chosen} | {lgb["val_auc_mean"]:.4f} | '
                 f'{lgb["test_auc_mean"]:.4f} +- {lgb["test_auc_std"]:.4f} | '
                 f'{lgb["test_log_loss_mean"]:.4f} | {lgb["test_accuracy_mean"]:.4f} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default=None, metavar='DIR',
                        help='the ML-100K folder to build the click data from (default: the '
                             'cache)')
    parser.add_argument('--trials', type=int, default=40, help='LightGBM search trials (40)')
    parser.add_argument('--seeds', default='0,1,2,3,4', help='LightGBM seeds (0,1,2,3,4)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'results', 'click_baselines.json'))
    args = parser.parse_args(argv)
    try:
        import lightgbm  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as e:
        parser.exit(1, f'click_baselines: {e}; install the extra: pip install -e ".[baselines]"\n')
    seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
    if args.trials < 1 or not seeds:
        parser.error('--trials must be at least 1 and --seeds name a seed')
    tic = time.time()
    record = run(args.data, trials=args.trials, seeds=seeds,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    record['seconds'] = time.time() - tic
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_write_text(args.out, json.dumps(record, indent=2, default=float) + '\n')
    print(table(record))
    print(f'wrote {args.out} ({record["seconds"]:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
