"""What the tuned presets (``d2l_recsys.defaults.TUNED``) measured, per model and split.

Written by ``tools/tuned_presets.py`` from the records of ``python -m d2l_recsys tune`` on this
project's 2-core CPU machine: the search (trials, seconds, best validation RMSE) and the
chosen preset trained once per seed, each seed with its own split and validation set, early
stopping on it, then the exact test RMSE (read once, after training). ``make reproduce`` and
the README show ``test_rmse_mean`` +- ``test_rmse_std`` as the "tuned" column.
"""

__all__ = ['TUNED_EVIDENCE', 'tuned_column']

TUNED_EVIDENCE = {('autorec', 'random'): {'trials': 25,
                         'search_seed': 0,
                         'search_seconds': 393.63,
                         'best_validation_rmse': 0.89185,
                         'pruned_trials': 15,
                         'per_seed': [{'seed': 0,
                                       'val_rmse': 0.89366,
                                       'test_rmse': 0.87968,
                                       'best_epoch': 45,
                                       'seconds': 30.744},
                                      {'seed': 1,
                                       'val_rmse': 0.89044,
                                       'test_rmse': 0.87127,
                                       'best_epoch': 47,
                                       'seconds': 33.964},
                                      {'seed': 2,
                                       'val_rmse': 0.8894,
                                       'test_rmse': 0.88891,
                                       'best_epoch': 40,
                                       'seconds': 37.272},
                                      {'seed': 3,
                                       'val_rmse': 0.88315,
                                       'test_rmse': 0.88333,
                                       'best_epoch': 47,
                                       'seconds': 44.503},
                                      {'seed': 4,
                                       'val_rmse': 0.89335,
                                       'test_rmse': 0.87833,
                                       'best_epoch': 53,
                                       'seconds': 48.774}],
                         'val_rmse_mean': 0.89,
                         'val_rmse_std': 0.0042467,
                         'test_rmse_mean': 0.88031,
                         'test_rmse_std': 0.0065009}}


def tuned_column():
    """``{(model, split): (mean, std, seeds)}`` of the exact test RMSE of the tuned presets."""
    return {key: (e['test_rmse_mean'], e['test_rmse_std'], len(e['per_seed']))
            for key, e in TUNED_EVIDENCE.items()}
