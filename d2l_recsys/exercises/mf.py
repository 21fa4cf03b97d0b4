"""The exercises of the section "Matrix Factorization for Recommender Systems": the number of
latent factors (``mf-factors``), optimizers, learning rates and weight decays
(``mf-optimizers``), one film's predicted rating across users against their biases
(``mf-predictions``), and the book's evaluator against the exact RMSE as the test batch size
changes (``mf-running-rmse``). Each run is judged by its exact test RMSE after the book's
epochs.
"""
import numpy

from .. import metrics
from .sweep import best, errorbar, figure, mean_std, shape

__all__ = ['EXERCISES', 'MF_OPTIMIZERS']


def mf_factors(sweep, quick):
    """Vary the number of latent factors (book settings otherwise, seq-aware split)."""
    sizes = (5, 30) if quick else (5, 10, 20, 30, 50, 100)
    for k in sizes:
        for seed in sweep.seeds:
            _, _, h = sweep.train('mf', seed, settings=dict(num_factors=k,
                                                            num_epochs=2 if quick else None))
            sweep.add({'num_factors': k}, seed, h['test_rmse_exact'], h['total_seconds'])
    rows = sweep.summary(['num_factors'])
    fig, (ax, ax2) = figure(2)
    errorbar(ax, rows, 'num_factors')
    ax.set(xscale='log', xlabel='latent factors k', ylabel='exact test RMSE')
    ax2.plot([r['num_factors'] for r in rows], [r['seconds_mean'] for r in rows], 'o-')
    ax2.set(xscale='log', xlabel='latent factors k', ylabel='seconds per run')
    first, last = rows[0], rows[-1]
    line = (f'Best {best(rows, ["num_factors"])}; {first["num_factors"]} factors give '
            f'{first["test_rmse_mean"]:.3f}, {last["num_factors"]} give '
            f'{last["test_rmse_mean"]:.3f}; a run takes {first["seconds_mean"]:.1f} s and '
            f'{last["seconds_mean"]:.1f} s.' + shape(rows, 'num_factors'))
    return rows, fig, line


MF_OPTIMIZERS = {'adam': (0.0005, 0.002, 0.008), 'rmsprop': (0.0005, 0.002, 0.008),
                 'adagrad': (0.01, 0.04, 0.16), 'sgd': (2.0, 8.0, 32.0)}


def mf_optimizers(sweep, quick):
    """Optimizers x learning rates x weight decays (the book: Adam, lr 0.002, wd 1e-5)."""
    grid = {'adam': (0.002,), 'sgd': (8.0,)} if quick else MF_OPTIMIZERS
    wds = (1e-5,) if quick else (1e-5, 1e-4)
    for wd in wds:
        for opt, lrs in grid.items():
            for lr in lrs:
                for seed in sweep.seeds:
                    _, _, h = sweep.train('mf', seed, optimizer=opt, settings=dict(
                        lr=lr, wd=wd, num_epochs=2 if quick else None))
                    sweep.add({'optimizer': opt, 'lr': lr, 'wd': wd}, seed,
                              h['test_rmse_exact'], h['total_seconds'])
    rows = sweep.summary(['optimizer', 'lr', 'wd'])
    fig, axes = figure(len(wds))
    for ax, wd in zip(axes, wds):
        for opt in grid:
            errorbar(ax, [r for r in rows if r['optimizer'] == opt and r['wd'] == wd], 'lr',
                      label=opt)
        ax.set(xscale='log', xlabel='learning rate', ylabel='exact test RMSE',
               title=f'weight decay {wd:g}')
        ax.set_ylim(top=min(ax.get_ylim()[1], 2.0))
        ax.legend()
    book = [r for r in rows if r['optimizer'] == 'adam' and r['lr'] == 0.002 and r['wd'] == 1e-5]
    per_opt = '; '.join(
        f'{opt} {best([r for r in rows if r["optimizer"] == opt], ["lr", "wd"])}'
        for opt in grid)
    line = (f'Best {best(rows, ["optimizer", "lr", "wd"])} against the book\'s Adam, lr '
            f'0.002, wd 1e-5 ({book[0]["test_rmse_mean"]:.3f}). Best per optimizer: {per_opt}. '
            'Each optimizer has its own learning-rate grid (' + ', '.join(
                f'{opt} {min(lrs):g}-{max(lrs):g}' for opt, lrs in grid.items()) + ').')
    return rows, fig, line


def mf_predictions(sweep, quick):
    """One film's predicted rating for every user, against the users' learned biases."""
    seed = sweep.seeds[0]
    net, run_data, h = sweep.train('mf', seed, settings=dict(num_epochs=2 if quick else None))
    users, items, ratings = (numpy.asarray(a) for a in run_data.train[:3])
    counts = numpy.bincount(items, minlength=run_data.num_items)
    film = int(counts.argmax())    # the film with most training ratings
    all_users = numpy.arange(run_data.num_users)
    pred = sweep.tab.predict(net, all_users, numpy.full_like(all_users, film))
    bias = sweep.tab.user_bias(net)
    rated = {int(u): float(r) for u, i, r in zip(users, items, ratings) if i == film}
    for u in all_users:
        sweep.rows.append({'user_id': int(u) + 1, 'item_id': film + 1,
                           'predicted': float(pred[u]), 'user_bias': float(bias[u]),
                           'rated_in_training': rated.get(int(u))})
    corr = float(numpy.corrcoef(pred, bias)[0, 1])
    seen = numpy.array(sorted(rated))
    fig, (ax, ax2) = figure(2)
    ax.hist(pred, bins=30)
    ax.set(xlabel=f'predicted rating of item {film + 1}', ylabel='users')
    ax2.scatter(bias, pred, s=4, alpha=0.5, label='all users')
    ax2.scatter(bias[seen], [rated[u] for u in seen], s=4, alpha=0.5, label='their rating')
    ax2.set(xlabel='user bias $b_u$', ylabel='rating')
    ax2.legend()
    rows = [{'item_id': film + 1, 'users': run_data.num_users,
             'rated_in_training': len(rated), 'predicted_mean': float(pred.mean()),
             'predicted_std': float(pred.std()), 'predicted_min': float(pred.min()),
             'predicted_max': float(pred.max()), 'corr_with_user_bias': corr,
             'train_mean_rating': float(numpy.mean(list(rated.values())))}]
    line = (f'Item {film + 1} (most rated): predictions for the {run_data.num_users} users '
            f'span {pred.min():.2f} to {pred.max():.2f} (mean {pred.mean():.2f}, its training '
            f'mean {rows[0]["train_mean_rating"]:.2f}); their correlation with the user bias '
            f'b_u is {corr:.2f}' + (': users who rate high get a higher prediction.'
                                    if corr > 0.5 else '.'))
    return rows, fig, line


def mf_running_rmse(sweep, quick):
    """The book's MF evaluator (mean of running RMSEs) against the exact test RMSE."""
    sizes = (1, 64, 512, 4096) if quick else (1, 16, 64, 256, 512, 1024, 4096, 100000)
    for seed in sweep.seeds:
        net, run_data, _ = sweep.train('mf', seed, settings=dict(
            num_epochs=2 if quick else None))
        u, i, r = (numpy.asarray(a) for a in run_data.test[:3])
        pred = sweep.tab.predict(net, u, i)
        exact = metrics.rmse(pred, r)
        for b in sizes:
            book = metrics.book_running_rmse(pred, r, b, 1)
            sweep.add({'test_batch_size': b}, seed, exact, 0., book_rmse=book,
                      difference=book - exact)
    rows = []
    for b in sizes:
        runs = [x for x in sweep.rows if x['test_batch_size'] == b]
        rows.append({'test_batch_size': b,
                     'book_rmse_mean': mean_std([x['book_rmse'] for x in runs])[0],
                     'exact_rmse_mean': mean_std([x['test_rmse'] for x in runs])[0],
                     'difference_mean': mean_std([x['difference'] for x in runs])[0]})
    fig, (ax,) = figure()
    ax.plot(sizes, [r['book_rmse_mean'] for r in rows], 'o-', label="book's evaluator")
    ax.plot(sizes, [r['exact_rmse_mean'] for r in rows], 'k--', label='exact RMSE')
    ax.set(xscale='log', xlabel='test batch size', ylabel='test RMSE')
    ax.legend()
    n = len(run_data.test[0])
    line = (f'The book\'s number is a mean of running batch RMSEs: it is {rows[0]["difference_mean"]:+.3f} '
            f'off the exact RMSE with batches of {sizes[0]}, and equal to it once one batch '
            f'holds all {n} test ratings.')
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'mf-factors': ('MF', 'Vary the number of latent factors', mf_factors, 3),
    'mf-optimizers': ('MF', 'Other optimizers, learning rates and weight decays',
                      mf_optimizers, 2),
    'mf-predictions': ('MF', 'Predicted ratings of one movie for other users', mf_predictions,
                       1),
    'mf-running-rmse': ("MF", "The book's evaluator against the exact RMSE", mf_running_rmse,
                        3),
}
