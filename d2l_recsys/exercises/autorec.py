"""The exercises of the section "AutoRec: Rating Prediction with Autoencoders": the hidden
dimension (``autorec-hidden``), more hidden layers (``autorec-layers``), encoder and decoder
activations (``autorec-activations``), and AutoRec against MF on both splits
(``autorec-seq-aware``). Each run is judged by its exact test RMSE after the book's epochs.
"""
import numpy

from .sweep import best, errorbar, figure, shape

__all__ = ['EXERCISES', 'ENCODERS', 'DECODERS']


def _autorec_sweep(sweep, quick, configs, key):
    for label, settings, layers in configs:
        for seed in sweep.seeds:
            s = dict(settings, num_epochs=2 if quick else None)
            _, _, h = sweep.train('autorec', seed, settings=s, **layers)
            sweep.add({key: label}, seed, h['test_rmse_exact'], h['total_seconds'])
    return sweep.summary([key])


def autorec_hidden(sweep, quick):
    """Vary the hidden dimension (book settings otherwise, random split)."""
    sizes = (100, 500) if quick else (50, 100, 200, 500, 1000)
    rows = _autorec_sweep(sweep, quick, [(k, {'num_hidden': k}, {}) for k in sizes],
                          'num_hidden')
    fig, (ax, ax2) = figure(2)
    errorbar(ax, rows, 'num_hidden')
    ax.set(xscale='log', xlabel='hidden units', ylabel='exact test RMSE')
    ax2.plot(sizes, [r['seconds_mean'] for r in rows], 'o-')
    ax2.set(xscale='log', xlabel='hidden units', ylabel='seconds per run')
    line = (f'Best {best(rows, ["num_hidden"])}, the book\'s 500: '
            f'{[r for r in rows if r["num_hidden"] == 500][0]["test_rmse_mean"]:.3f}; a run '
            f'takes {rows[0]["seconds_mean"]:.1f} s at {sizes[0]} units and '
            f'{rows[-1]["seconds_mean"]:.1f} s at {sizes[-1]}.' + shape(rows, 'num_hidden'))
    return rows, fig, line


def autorec_layers(sweep, quick):
    """More hidden layers between the encoder and the decoder."""
    stacks = [(), (500,)] if quick else [(), (100,), (250,), (500,), (500, 500)]
    configs = [('500' + ''.join(f'-{h}' for h in st), {}, {'hidden_layers': st})
               for st in stacks]
    rows = _autorec_sweep(sweep, quick, configs, 'layers')
    fig, (ax,) = figure()
    ax.errorbar(range(len(rows)), [r['test_rmse_mean'] for r in rows],
                yerr=[r['test_rmse_std'] for r in rows], fmt='o', capsize=3)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r['layers'] for r in rows], rotation=20)
    ax.set(xlabel='hidden layer sizes', ylabel='exact test RMSE')
    base = rows[0]['test_rmse_mean']
    best = min(rows, key=lambda r: r['test_rmse_mean'])
    line = (f'One hidden layer (the book\'s 500) gives {base:.3f}; the best stack is '
            f'{best["layers"]} ({best["test_rmse_mean"]:.3f}): with 1,682 item rows to learn '
            f'from, extra '
            + ('layers help a little.' if best['test_rmse_mean'] < base - 0.005 else
               'layers do not help.'))
    return rows, fig, line


ENCODERS = ('sigmoid', 'tanh', 'relu', 'softrelu')
DECODERS = (None, 'relu', 'softrelu', 'sigmoid')


def autorec_activations(sweep, quick):
    """Encoder x decoder activations (the book: sigmoid encoder, identity decoder)."""
    encs, decs = (('sigmoid', 'relu'), (None, 'sigmoid')) if quick else (ENCODERS, DECODERS)
    configs = [(f'{e}/{d or "identity"}', {},
                {'encoder_activation': e, 'decoder_activation': d})
               for e in encs for d in decs]
    rows = _autorec_sweep(sweep, quick, configs, 'encoder/decoder')
    grid = numpy.array([[r['test_rmse_mean'] for r in rows[k * len(decs):(k + 1) * len(decs)]]
                        for k in range(len(encs))])
    fig, (ax,) = figure(width=5, height=3.8)
    shown = numpy.minimum(grid, 1.5)
    im = ax.imshow(shown, cmap='viridis_r')
    for a in range(len(encs)):
        for b in range(len(decs)):
            ax.text(b, a, f'{grid[a, b]:.3f}', ha='center', va='center', fontsize=8,
                    color='w' if shown[a, b] > shown.mean() else 'k')
    ax.set_xticks(range(len(decs)))
    ax.set_xticklabels([d or 'identity' for d in decs])
    ax.set_yticks(range(len(encs)))
    ax.set_yticklabels(encs)
    ax.set(xlabel='decoder activation', ylabel='encoder activation')
    fig.colorbar(im, ax=ax, label='exact test RMSE (capped at 1.5)')
    book = grid[list(encs).index('sigmoid'), list(decs).index(None)]
    line = (f'Best {best(rows, ["encoder/decoder"])} against the book\'s sigmoid/identity '
            f'({book:.3f}); a sigmoid decoder cannot output ratings above 1, so it fails; '
            f'unbounded decoders (identity, relu, softrelu) can reach 1 to 5.')
    return rows, fig, line


def autorec_seq_aware(sweep, quick):
    """Item-based AutoRec and MF, book settings, on both splits."""
    for model in ('mf', 'autorec'):
        for split in ('random', 'seq-aware'):
            for seed in sweep.seeds:
                _, _, h = sweep.train(model, seed, settings=dict(
                    split_mode=split, num_epochs=2 if quick else None))
                sweep.add({'model': model, 'split': split}, seed, h['test_rmse_exact'],
                          h['total_seconds'])
    rows = sweep.summary(['model', 'split'])
    fig, (ax,) = figure()
    for k, model in enumerate(('mf', 'autorec')):
        part = [r for r in rows if r['model'] == model]
        ax.bar([j + 0.38 * k for j in range(len(part))], [r['test_rmse_mean'] for r in part],
               0.36, yerr=[r['test_rmse_std'] for r in part], capsize=3,
               label={'mf': 'MF', 'autorec': 'AutoRec (item-based)'}[model])
    ax.set_xticks([0.19, 1.19])
    ax.set_xticklabels(['random split', 'seq-aware split'])
    ax.set(ylabel='exact test RMSE', ylim=(0.8, 1.15))
    ax.legend()
    get = {(r['model'], r['split']): r['test_rmse_mean'] for r in rows}
    line = (f'Random split: AutoRec {get["autorec", "random"]:.3f}, MF {get["mf", "random"]:.3f}; '
            f'seq-aware: AutoRec {get["autorec", "seq-aware"]:.3f}, MF '
            f'{get["mf", "seq-aware"]:.3f}. Predicting each user\'s latest rating is harder '
            f'for both; the ranking of the two models '
            + ('stays the same.' if (get['autorec', 'random'] < get['mf', 'random']) ==
               (get['autorec', 'seq-aware'] < get['mf', 'seq-aware']) else 'changes.'))
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'autorec-hidden': ('AutoRec', 'Vary the hidden dimension', autorec_hidden, 3),
    'autorec-layers': ('AutoRec', 'Add hidden layers', autorec_layers, 3),
    'autorec-activations': ('AutoRec', 'A better pair of encoder and decoder activations',
                            autorec_activations, 2),
    'autorec-seq-aware': ('AutoRec', 'AutoRec against MF on the seq-aware split',
                          autorec_seq_aware, 3),
}
