"""The book's settings for its experiments, in one table.

``BOOK['mf']`` is the cell of :numref:`sec_mf`, ``BOOK['autorec']`` the cell of
:numref:`sec_autorec`, ``BOOK['neumf']`` and ``BOOK['caser']`` the training cells of the
sections "Neural Collaborative Filtering for Personalized Ranking" and "Sequence-Aware
Recommender Systems" (both on the seq-aware split with implicit feedback; ``loss`` names the
pairwise loss of "Personalized Ranking for Recommender Systems": ``'bpr'``, the book's, or
``'hinge'``), ``BOOK['fm']`` and ``BOOK['deepfm']`` the cells of the FM and DeepFM sections.
Every entry point (both tabs' experiments, the command line's help,
``make reproduce`` and ``make bench``) reads its defaults from here, so that changing the book's
setting in one place changes it everywhere.
"""
import types

__all__ = ['BOOK', 'TUNED', 'PRESETS', 'SPACES', 'OPTIONS_OFF', 'RATING_SCALE', 'ACTIVATIONS',
           'MAX_EPOCHS', 'PATIENCE', 'MODELS', 'RANKING_MODELS', 'RANKING_LOSSES', 'SPLITS',
           'book', 'preset', 'CLICK_MODELS', 'CLICK_DATASETS', 'CLICK_DATASET', 'OPTIMIZERS',
           'CASER_LOSSES', 'NEUMF_OUTPUTS']

MODELS = ('mf', 'autorec')
# The ranking half: implicit feedback, the seq-aware split, a pairwise loss.
RANKING_MODELS = ('neumf', 'caser')
RANKING_LOSSES = ('bpr', 'hinge')
# Beyond the book: Caser may also train with 'softmax' (the cross-entropy of the next item among
# every item's score, no negative sampled; fast path only), and NeuMF's prediction layer may give
# the logit itself ('logit') instead of the book's sigmoid of it.
CASER_LOSSES = RANKING_LOSSES + ('softmax',)
NEUMF_OUTPUTS = ('sigmoid', 'logit')
# The optimizers the ranking models and the exercises take, by Gluon's names (the book's is
# 'adam'); the PyTorch tab maps each to torch.optim's (d2l_recsys.torch.fast.OPTIMIZERS).
OPTIMIZERS = ('adam', 'rmsprop', 'adagrad', 'sgd')
SPLITS = ('random', 'seq-aware')
# The feature-rich sections' click models, and their data sets with their numbers of fields
# (CTRDataset's num_feat): MovieLens 100K as click data (the default: it runs everywhere) and
# the book's advertising data, on the book's server only.
CLICK_MODELS = ('fm', 'deepfm')
CLICK_DATASETS = types.MappingProxyType({'ml100k-ctr': 8, 'ctr': 34})
CLICK_DATASET = 'ml100k-ctr'

# MappingProxyType: read-only, so that no caller changes the book's settings for the others.
BOOK = types.MappingProxyType({
    'mf': types.MappingProxyType(dict(
        num_factors=30, lr=0.002, wd=1e-5, batch_size=512, num_epochs=20,
        split_mode='seq-aware', test_ratio=0.1)),
    'autorec': types.MappingProxyType(dict(
        num_hidden=500, dropout=0.05, lr=0.002, wd=1e-5, batch_size=256, num_epochs=25,
        split_mode='random', test_ratio=0.1)),
    'neumf': types.MappingProxyType(dict(
        num_factors=10, nums_hiddens=(10, 10, 10), lr=0.01, wd=1e-5, batch_size=1024,
        num_epochs=10, loss='bpr')),
    'caser': types.MappingProxyType(dict(
        num_factors=10, L=5, d=16, d_prime=4, drop_ratio=0.05, lr=0.04, wd=1e-5,
        batch_size=4096, num_epochs=8, loss='bpr')),
    # The cells of the FM and DeepFM sections: Adam, Xavier initialisation, the book's
    # SigmoidBinaryCrossEntropyLoss, batch 2048, 30 epochs.
    'fm': types.MappingProxyType(dict(num_factors=20, lr=0.02, batch_size=2048,
                                      num_epochs=30)),
    'deepfm': types.MappingProxyType(dict(num_factors=10, mlp_dims=(30, 20, 10), drop_rate=0.1,
                                          lr=0.01, batch_size=2048, num_epochs=30)),
})


def book(model, **overrides):
    """The book's settings for ``model`` (a key of :data:`BOOK`) as a new dict, with
    overrides."""
    if model not in BOOK:
        raise ValueError(f"model must be one of {', '.join(BOOK)}, got {model!r}")
    unknown = set(overrides) - set(BOOK[model])
    if unknown:
        raise TypeError(f'{model} has no setting {", ".join(sorted(unknown))}')
    return {**BOOK[model], **overrides}


# What ``python -m d2l_recsys tune`` searches (:mod:`d2l_recsys.tuning`).
# Search spaces: (kind, low, high) for floats/ints on a log or linear scale, or a tuple of
# choices. ``num_epochs`` is the most a run may train; early stopping picks the epoch.
# ``lr_decay``: the factor the learning rate shrinks by when the validation RMSE stalls (None:
# never); ``decoder_activation``: AutoRec's output (None: the book's identity);
# ``input_dropout``: AutoRec's share of observed input ratings hidden while training.
SPACES = {
    'mf': dict(num_factors=('int-log', 8, 256), lr=('log', 5e-4, 2e-2),
               wd=('log', 1e-7, 1e-3), reg=('log', 1e-3, 1.0),
               batch_size=(256, 512, 1024, 2048), lr_decay=(None, 0.1, 0.3, 0.5)),
    'autorec': dict(num_hidden=('int-log', 100, 2000), lr=('log', 3e-4, 1e-2),
                    wd=('log', 1e-7, 1e-2), dropout=('float', 0.0, 0.7),
                    batch_size=(64, 128, 256), lr_decay=(None, 0.1, 0.3, 0.5),
                    decoder_activation=(None, 'softrelu'), input_dropout=('float', 0.0, 0.5)),
    # The ranking half (:mod:`d2l_recsys.rank_tuning`): around the points docs/ranking-presets.md
    # found; weight decay as a few values, zero among them (the book's 1e-5 is what stops its
    # NeuMF from learning). ``num_epochs`` is the most a run trains; early stopping on the
    # validation HR@10 picks the epoch.
    'neumf': dict(output=NEUMF_OUTPUTS, num_factors=('int-log', 8, 64), lr=('log', 1e-3, 3e-2),
                  wd=(0.0, 1e-7, 1e-6, 1e-5), batch_size=(256, 512, 1024)),
    'caser': dict(loss=('bpr', 'softmax'), num_factors=('int-log', 10, 64),
                  drop_ratio=('float', 0.0, 0.6), lr=('log', 5e-4, 1e-2),
                  wd=(0.0, 1e-7, 1e-6, 1e-5), batch_size=(256, 512, 1024, 4096)),
    # FM and DeepFM on the MovieLens click data (d2l_recsys.click_tuning): ``wd`` is Adam's
    # weight decay (the book's cells have none; 1e-9 is as good as none), ``from_sigmoid``
    # whether the loss takes the model's output as a probability (False: the book's second
    # sigmoid); DeepFM's layers are named as a string of units.
    'fm': dict(num_factors=('int-log', 4, 128), lr=('log', 3e-4, 3e-2), wd=('log', 1e-9, 1e-3),
               batch_size=(256, 512, 1024, 2048, 4096), from_sigmoid=(False, True)),
    'deepfm': dict(num_factors=('int-log', 4, 64), lr=('log', 3e-4, 3e-2),
                   wd=('log', 1e-9, 1e-3), batch_size=(256, 512, 1024, 2048, 4096),
                   mlp_dims=('30,20,10', '64,32', '128,64', '256,128,64', '400,400,400',
                             '64', '256'),
                   drop_rate=('float', 0.0, 0.6), from_sigmoid=(False, True)),
}
# What each option beyond the book's settings is when a preset does not set it: off, the
# book's model and training.
OPTIONS_OFF = types.MappingProxyType(dict(reg=0.0, lr_decay=None, decoder_activation=None,
                                          input_dropout=0.0, clip=False, output='sigmoid'))
# MovieLens ratings are whole stars from 1 to 5; AutoRec's ``clip`` keeps predictions there.
RATING_SCALE = (1.0, 5.0)
# The activations a model description may name: what MXNet's ``Dense(activation=...)``
# accepts; the PyTorch tab maps each name to its module, so a name means the same in both.
ACTIVATIONS = ('sigmoid', 'relu', 'tanh', 'softrelu', 'softsign')
MAX_EPOCHS = {'mf': 60, 'autorec': 120, 'neumf': 20, 'caser': 40, 'fm': 40, 'deepfm': 40}
PATIENCE = {'mf': 5, 'autorec': 8, 'neumf': 3, 'caser': 5, 'fm': 4, 'deepfm': 4}

# Settings chosen by ``python -m d2l_recsys tune MODEL --split SPLIT`` on validation sets cut
# from the training split (never the test split), over the searches docs/tuning.md
# names (MF seq-aware: seed 0's validation set; the others: the mean of two or three
# seeds'). ``reg`` is MF's penalty on the factor rows each rating touches; ``num_epochs`` is
# the most a run trains, ``patience`` the early stopping on the validation RMSE that picks
# the epoch, ``lr_decay`` the learning rate's factor when it stalls, ``input_dropout``
# AutoRec's share of inputs hidden while training, ``clip`` its predictions kept to 1-5,
# ``refit`` a second run on the whole training split for the chosen epochs. The evidence
# (validation and test RMSE per seed, search time) is in :mod:`d2l_recsys.evidence`.
TUNED = types.MappingProxyType({
    ('mf', 'random'): types.MappingProxyType(dict(
        num_factors=100, lr=0.0019127423728871123, wd=1.9089171584870874e-05, reg=0.05,
        batch_size=256, lr_decay=0.3, num_epochs=60, patience=5, val_ratio=0.1, refit=True)),
    ('mf', 'seq-aware'): types.MappingProxyType(dict(
        num_factors=75, lr=0.0012727946668610705, wd=7.332348382056157e-06,
        reg=0.005410990556767876, batch_size=1024, num_epochs=60, patience=5,
        val_ratio=0.1)),
    ('autorec', 'random'): types.MappingProxyType(dict(
        num_hidden=519, lr=0.0008379229542854422, wd=1e-05, dropout=0.15, batch_size=128,
        lr_decay=0.3, decoder_activation='softrelu', input_dropout=0.25, clip=True,
        num_epochs=120, patience=8, val_ratio=0.1, refit=True)),
    ('autorec', 'seq-aware'): types.MappingProxyType(dict(
        num_hidden=476, lr=0.0012841066930172897, wd=2.1027036109989284e-06,
        dropout=0.5419635826039516, batch_size=128, lr_decay=0.5, decoder_activation=None,
        input_dropout=0.21851597689967073, clip=True, num_epochs=120, patience=8,
        val_ratio=0.1, refit=True)),
    # The ranking half, chosen by tools/ranking_research.py's search (``python -m d2l_recsys tune
    # neumf|caser``, :mod:`d2l_recsys.rank_tuning`, searches the same way) on the validation
    # items (each user's second-latest, never the test items); the settings not named are the
    # book's; ``num_epochs`` is fixed (the mean of the best epochs early stopping found on
    # validation), trained on the whole training split. The evidence is in
    # :mod:`d2l_recsys.rank_evidence`: chosen on seed 0 (NeuMF) and seeds 0 and 1 (Caser),
    # reported on seeds 5-9, used in no choice (docs/ranking-presets.md).
    ('neumf', 'seq-aware'): types.MappingProxyType(dict(
        output='logit', num_factors=10, lr=0.01, wd=0.0, batch_size=1024, num_epochs=9)),
    ('caser', 'seq-aware'): types.MappingProxyType(dict(
        loss='softmax', num_factors=50, drop_ratio=0.5, lr=0.001, wd=1e-6, batch_size=512,
        num_epochs=16)),
    # FM and DeepFM on the MovieLens click data (``tune fm|deepfm``, the PyTorch tab, seed 0's
    # run on the validation lines cut from the training file; docs/ctr.md): ``wd`` is Adam's
    # weight decay, ``from_sigmoid`` the loss without the book's second sigmoid, ``mlp_dims`` as
    # the search space names it. DeepFM's ``wd`` from a hand grid around the search's point
    # (validation AUC, the mean of seeds 0, 11 and 12).
    ('fm', 'ml100k-ctr'): types.MappingProxyType(dict(
        num_factors=24, lr=0.004409527938405007, wd=6.0314867455049305e-05, batch_size=1024,
        from_sigmoid=True, num_epochs=40, patience=4, val_ratio=0.1, refit=True)),
    ('deepfm', 'ml100k-ctr'): types.MappingProxyType(dict(
        num_factors=24, lr=0.004, wd=2e-04, batch_size=1024, mlp_dims='256,128,64',
        drop_rate=0.3, from_sigmoid=True, num_epochs=40, patience=4, val_ratio=0.1,
        refit=True)),
})

PRESETS = ('book', 'tuned')


def preset(model, split_mode, name='book'):
    """A named preset's settings as a new dict: ``'book'`` (``BOOK[model]``, no early
    stopping) or ``'tuned'`` (``TUNED[(model, split_mode)]``), with ``split_mode`` set. For FM
    and DeepFM ``split_mode`` names the click data set (its files are split already), and
    the dict has no ``split_mode``."""
    if model not in BOOK:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if model in CLICK_MODELS:
        if split_mode not in CLICK_DATASETS:
            raise ValueError(f"data set must be one of {', '.join(CLICK_DATASETS)}, got "
                             f'{split_mode!r}')
        if name == 'tuned' and (model, split_mode) not in TUNED:
            raise ValueError(f'{model} has no tuned preset for {split_mode!r} (the presets are '
                             f'tuned on {CLICK_DATASET!r}); use --preset book')
        extra = {}
    elif split_mode not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split_mode!r}")
    else:
        extra = {'split_mode': split_mode}
    if name == 'book':
        return dict(BOOK[model], **extra)
    if name == 'tuned':
        return dict(TUNED[(model, split_mode)], **extra)
    raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
