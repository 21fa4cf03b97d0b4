"""Command line: ``python -m d2l_recsys {data,train,recommend,tune,exercises}`` (also
``d2l-recsys``).

    python -m d2l_recsys data                      # fetch/validate ML-100K, print its folder
    python -m d2l_recsys train mf --out results/mf # the book's MF experiment
    python -m d2l_recsys train autorec --seed 0    # the book's AutoRec experiment
    python -m d2l_recsys train neumf --fast        # the book's NeuMF experiment, sooner
    python -m d2l_recsys train caser --fast        # Caser, its training call run
    python -m d2l_recsys recommend --model results/mf --user 20 -k 10

Defaults are the book's settings. Wrong arguments end with one line on stderr and exit
status 2 (usage) or 1 (anything else that goes wrong), without a traceback.
"""
import argparse
import importlib
import json
import os
import signal
import sys
import time

from . import checks
from .checks import OneLineParser, UsageError
from .defaults import (BOOK, CASER_LOSSES, CLICK_DATASET, CLICK_DATASETS, CLICK_MODELS,
                       NEUMF_OUTPUTS, RANKING_MODELS)

PROG = 'd2l-recsys'
EXAMPLES = '''examples:
  python -m d2l_recsys data                        fetch/check ML-100K, print its folder
  python -m d2l_recsys train mf --seed 0           the book's MF run -> results/mf
  python -m d2l_recsys train autorec --devices cpu:0,cpu:1 --out runs/ar
  python -m d2l_recsys train autorec --framework torch --out runs/ar-torch
  python -m d2l_recsys train autorec --preset tuned  the tuned preset, early stopping
  python -m d2l_recsys train neumf --fast          the book's NeuMF run -> results/neumf
  python -m d2l_recsys train caser --fast --framework torch
  python -m d2l_recsys train caser --preset tuned  Caser's tuned preset (softmax loss)
  python -m d2l_recsys train fm --fast             FM on MovieLens as click data -> results/fm
  python -m d2l_recsys train deepfm --dataset ctr --data ctr.zip   the book's ad data
  python -m d2l_recsys recommend --model results/mf --user 20 -k 10'''


# The argument types are the shared ones (:mod:`d2l_recsys.checks`), as the distributed entry's.
_positive_int = checks.arg_positive_int
_finite_float, _positive_float = checks.arg_finite, checks.arg_positive_float
_nonneg_float, _ratio, _seed = checks.arg_nonneg_float, checks.arg_ratio, checks.arg_seed
_dropout = checks.arg_fraction


def _int_list(text):
    try:
        return list(checks.int_list('the layers', text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).replace('the layers must be ', 'must be '))


def build_parser():
    p = OneLineParser(prog=PROG, description='The recommender-systems chapters of Dive into '
                      'Deep Learning (MovieLens 100K, matrix factorization, AutoRec, NeuMF, Caser, '
                      'FM, DeepFM): MXNet Gluon, the book\'s (default), or PyTorch (--framework '
                      'torch).',
                      epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', metavar='{data,train,recommend,tune,exercises}',
                           parser_class=OneLineParser)
    sub.required = True

    d = sub.add_parser('data', help='fetch and validate MovieLens 100K (with u.user, which the '
                                    'click data reads); print its folder')
    d.add_argument('--path', default=None,
                   help='a folder with u.data or an ml-100k.zip (default: $D2L_RECSYS_DATA, '
                        'the cache, then the network)')

    t = sub.add_parser('train', help="train MF, AutoRec, NeuMF, Caser, FM or DeepFM with the "
                                     "book's settings")
    t.add_argument('model', choices=['mf', 'autorec', *RANKING_MODELS, *CLICK_MODELS])
    t.add_argument('--framework', choices=['mxnet', 'torch'], default='mxnet',
                   help="mxnet (the book's tab, default) or torch (the PyTorch tab)")
    mf, ar, nm, cs = BOOK['mf'], BOOK['autorec'], BOOK['neumf'], BOOK['caser']

    def both(key):
        return f"MF {mf[key]}, AutoRec {ar[key]}" if mf[key] != ar[key] else f'{mf[key]}'

    fm, dfm = BOOK['fm'], BOOK['deepfm']

    def every(key, click=True):
        more = f', FM {fm[key]}, DeepFM {dfm[key]}' if click else ''
        return f'{both(key)}, NeuMF {nm[key]}, Caser {cs[key]}{more}'
    t.add_argument('--epochs', type=_positive_int, help=every('num_epochs'))
    t.add_argument('--lr', type=_positive_float, help=f'Adam learning rate ({every("lr")})')
    t.add_argument('--wd', type=_nonneg_float,
                   help=f'weight decay ({every("wd", click=False)})')
    t.add_argument('--batch-size', type=_positive_int, help=every('batch_size'))
    t.add_argument('--factors', type=_positive_int,
                   help=f'latent factors (MF {mf["num_factors"]}, NeuMF {nm["num_factors"]}, '
                        f'Caser {cs["num_factors"]}; the embedding size of FM '
                        f'{fm["num_factors"]} and DeepFM {dfm["num_factors"]})')
    t.add_argument('--hidden', type=_positive_int,
                   help=f'AutoRec hidden units ({ar["num_hidden"]})')
    t.add_argument('--split', choices=['random', 'seq-aware'], help=both('split_mode'))
    t.add_argument('--test-ratio', type=_ratio, help=f'({both("test_ratio")})')
    t.add_argument('--user-based', action='store_true',
                   help="AutoRec: the paper's user-based variant (rows are users)")
    t.add_argument('--mlp', type=_int_list, metavar='N,N,...',
                   help='NeuMF, DeepFM: the units of the MLP\'s layers (NeuMF '
                        f'{",".join(map(str, nm["nums_hiddens"]))}, DeepFM '
                        f'{",".join(map(str, BOOK["deepfm"]["mlp_dims"]))})')
    t.add_argument('--L', type=_positive_int, dest='L',
                   help=f'Caser: the items of a window ({cs["L"]})')
    t.add_argument('--d', type=_positive_int, dest='d',
                   help=f'Caser: horizontal filters per height ({cs["d"]})')
    t.add_argument('--d-prime', type=_positive_int,
                   help=f'Caser: vertical filters ({cs["d_prime"]})')
    t.add_argument('--drop-ratio', type=_dropout,
                   help=f'Caser: dropout before its fully connected layer ({cs["drop_ratio"]})')
    t.add_argument('--loss', choices=list(CASER_LOSSES),
                   help="NeuMF, Caser: the pairwise loss (the book's bpr, or hinge); Caser "
                        'with --fast also softmax (the next item among all items, no negative '
                        'sampled)')
    t.add_argument('--output', choices=list(NEUMF_OUTPUTS),
                   help="NeuMF: the prediction layer's sigmoid (the book's) or the logit "
                        'itself')
    t.add_argument('--seed', type=_seed, default=None,
                   help="fixes the framework's (MXNet's or PyTorch's), NumPy's and Python's "
                        'random state (same split, same RMSE on CPU)')
    t.add_argument('--devices', default=None,
                   help='MXNet: cpu, cpu:0,cpu:1, gpu, gpu:0,gpu:1; PyTorch: cpu, cuda, '
                        'cuda:0,cuda:1; or auto (default: all GPUs, else the CPU)')
    t.add_argument('--data', default=None, metavar='DIR',
                   help='folder with u.data (default: as `data` finds it); FM/DeepFM on '
                        '--dataset ctr: ctr.zip or a folder with train.csv and test.csv')
    t.add_argument('--out', default=None, metavar='DIR',
                   help='where to write history.json, curve.png/.svg and the model '
                        '(default results/MODEL)')
    t.add_argument('--fast', action='store_true',
                   help='use the faster training path (same model, batches and RMSE; '
                        'PyTorch: one device)')
    t.add_argument('--dataset', choices=list(CLICK_DATASETS), default=None,
                   help=f'FM/DeepFM: {CLICK_DATASET} (default: MovieLens 100K as click data, '
                        "built from --data or the cache's ML-100K) or ctr (the book's "
                        'advertising data: from the book\'s server, or --data ctr.zip / a '
                        'folder with train.csv and test.csv)')
    t.add_argument('--drop-rate', type=_dropout, default=None,
                   help=f'DeepFM dropout ({dfm["drop_rate"]})')

    # ---- tuning: search on a validation set, presets (see d2l_recsys.tuning)
    t.add_argument('--preset', choices=['book', 'tuned'], default='book',
                   help="book: the book's settings (default); tuned: the settings `tune` "
                        'found for this model and split, with early stopping on a validation '
                        'set cut from the training split (NeuMF, Caser: the epochs it chose, '
                        'on the fast path)')
    u = sub.add_parser('tune', help='search hyper-parameters on a validation set (Optuna), '
                                    'then report the test RMSE (NeuMF, Caser: HR@10, AUC; '
                                    'FM, DeepFM: AUC) per seed')
    u.add_argument('model', choices=['mf', 'autorec', *RANKING_MODELS, *CLICK_MODELS])
    u.add_argument('--split', choices=['random', 'seq-aware'], default=None,
                   help='MF, AutoRec: random (default) or seq-aware; NeuMF and Caser: '
                        'seq-aware only; FM and DeepFM tune on the MovieLens click data, '
                        'whose files are split already')
    u.add_argument('--trials', type=_positive_int, default=30, help='Optuna trials (30)')
    u.add_argument('--seed', type=_seed, default=0,
                   help='seed of the split, the validation set and the search (0)')
    u.add_argument('--search-seeds', default=None, metavar='S,S,...',
                   help='seeds whose validation sets judge each trial (the mean of their best '
                        'validation RMSEs, or AUCs; default: --seed alone)')
    u.add_argument('--start', action='append', default=[], metavar='JSON',
                   help='a point tried first, as JSON ({"num_hidden": 1000, ...}, the search '
                        "space's names; missing names from the tuned preset, options it does "
                        'not set off); may repeat')
    u.add_argument('--clip', action='store_true',
                   help="AutoRec: every trial and the preset clip predictions to the rating "
                        'scale, 1 to 5 (never searched: it can only bring a prediction closer '
                        'to a rating)')
    u.add_argument('--refit', action='store_true',
                   help='the preset trains again on the whole training split (validation '
                        'ratings or lines included) for the epochs early stopping chose')
    u.add_argument('--eval-seeds', default='0,1,2,3,4', metavar='S,S,...',
                   help='seeds the chosen preset is trained and tested on (0,1,2,3,4; '
                        "'' for none)")
    u.add_argument('--max-epochs', type=_positive_int, default=None,
                   help='most epochs a trial trains (MF 60, AutoRec 120, NeuMF 20, Caser 40, '
                        'FM and DeepFM 40)')
    u.add_argument('--framework', choices=['mxnet', 'torch'], default='mxnet',
                   help='the tab that trains the trials: mxnet (default) or torch')
    u.add_argument('--devices', default=None, help='as for train')
    u.add_argument('--data', default=None, metavar='DIR', help='as for train')
    u.add_argument('--out', default=None, metavar='FILE',
                   help='JSON record (default results/tune/MODEL-SPLIT.json; FM, DeepFM: '
                        'MODEL-ml100k-ctr.json)')

    # ---- the exercises of the chapter's sections (see d2l_recsys.exercises)
    x = sub.add_parser('exercises', help="run the exercises of the chapter's sections as "
                                         'sweeps; figures and tables in results/exercises/')
    x.add_argument('names', nargs='*', metavar='NAME',
                   help='which exercises (default: all): ' + ', '.join(_exercise_names()))
    x.add_argument('--quick', action='store_true',
                   help='2 epochs, fewer points and one seed: checks the plumbing in about a '
                        'minute')
    x.add_argument('--framework', choices=['mxnet', 'torch'], default='mxnet',
                   help='the tab that runs the sweeps: mxnet (default) or torch')
    x.add_argument('--data', default=None, metavar='DIR', help='as for train')
    x.add_argument('--out', default=None, metavar='DIR',
                   help='where to write (default results/exercises)')

    r = sub.add_parser('recommend', help="a trained model's top-k unseen items for a user "
                                         '(MF, AutoRec: predicted ratings; NeuMF, Caser: '
                                         'ranking scores)')
    r.add_argument('--model', required=True, metavar='DIR', help='folder written by train')
    r.add_argument('--user', required=True, type=int,
                   help='MovieLens user id (1-based, as in u.data)')
    r.add_argument('-k', type=_positive_int, default=10, help='how many items (10)')
    r.add_argument('--data', default=None, metavar='DIR',
                   help='folder with u.item for the titles (default: the copy train saved in '
                        'the model folder)')
    r.add_argument('--json', action='store_true', help='print JSON instead of a table')
    return p


def _log(message):
    print(message, file=sys.stderr, flush=True)


def cmd_data(args):
    from . import fetch
    folder = fetch.ml100k_dir(args.path, log=_log)
    try:   # the click data's u.user; MF and AutoRec run without it
        fetch.u_user_path(folder, log=_log)
    except (fetch.DataError, fetch.FetchError) as e:
        _log(f'{PROG}: note: {e}')
    print(folder)
    return 0


def _tab(framework='mxnet'):
    """The framework's tab (its namespace module), imported when a command needs it."""
    try:
        return importlib.import_module(f'{__package__}.{framework}')
    except ImportError as e:   # the framework is absent or cannot run here: say so in one line
        raise RuntimeError(str(e)) from None


def _experiments(framework):
    """The tab's experiments module, which :mod:`d2l_recsys.tuning` and
    :mod:`d2l_recsys.exercises` drive (imported when a command needs it)."""
    _tab(framework)   # a framework that is absent or cannot run here: one line
    return importlib.import_module(f'{__package__}.{framework}.experiments')


def _jsonable(obj):
    # Imported here, as NumPy is: nothing heavy before a command needs it.
    from .store import json_default
    return json_default(obj, fallback=str)


# The options of one model or a few, and the models they belong to (checked before training).
MODEL_OPTIONS = (('--hidden', 'hidden', ('autorec',)),
                 ('--user-based', 'user_based', ('autorec',)),
                 ('--factors', 'factors', ('mf', *RANKING_MODELS, *CLICK_MODELS)),
                 ('--wd', 'wd', ('mf', 'autorec', *RANKING_MODELS)),
                 ('--split', 'split', ('mf', 'autorec')),
                 ('--test-ratio', 'test_ratio', ('mf', 'autorec')),
                 ('--mlp', 'mlp', ('neumf', 'deepfm')),
                 ('--L', 'L', ('caser',)), ('--d', 'd', ('caser',)),
                 ('--d-prime', 'd_prime', ('caser',)),
                 ('--drop-ratio', 'drop_ratio', ('caser',)),
                 ('--loss', 'loss', RANKING_MODELS),
                 ('--output', 'output', ('neumf',)),
                 ('--dataset', 'dataset', CLICK_MODELS),
                 ('--drop-rate', 'drop_rate', ('deepfm',)))
NAMES = {'mf': 'MF', 'autorec': 'AutoRec', 'neumf': 'NeuMF', 'caser': 'Caser', 'fm': 'FM',
         'deepfm': 'DeepFM'}
# Why an option is not a model's, where the reason is the book's.
WHY = {'split': " (the ranking half uses the seq-aware split, each user's latest rating held "
                'out; the click data sets have their own split)',
       'wd': ' (the book trains FM and DeepFM with Adam without weight decay)'}


def _check_model_options(args):
    """One line for an option the model does not take (MF's and AutoRec's own words kept)."""
    if args.model == 'mf' and (args.hidden is not None or args.user_based):
        raise UsageError('--hidden and --user-based are AutoRec options; MF uses --factors')
    if args.model == 'autorec' and args.factors is not None:
        raise UsageError('--factors is an MF option; AutoRec uses --hidden')
    for flag, attr, models in MODEL_OPTIONS:
        value = getattr(args, attr)
        if value not in (None, False) and args.model not in models:
            owners = ', '.join(NAMES[m] for m in models[:-1]) + (
                ' and ' if len(models) > 1 else '') + NAMES[models[-1]]
            why = WHY.get('split' if attr == 'test_ratio' else attr, '')
            raise UsageError(f'{flag} is {"an" if owners[0] in "AEFIMO" else "a"} {owners} option, '
                             f'not {NAMES[args.model]}\'s{why}')
    if args.loss == 'softmax' and args.model != 'caser':
        raise UsageError(f"--loss softmax is Caser's; {NAMES[args.model]} takes bpr or hinge")
    if args.loss == 'softmax' and not args.fast:
        raise UsageError("--loss softmax trains on the fast path only: add --fast (the book's "
                         'train_ranking takes a pairwise loss)')


def cmd_train(args):
    _check_model_options(args)
    if args.preset == 'tuned':
        _refuse_settings(args)
    from .store import check_output_folder
    out = args.out or os.path.join('results', args.model)   # created when saving
    check_output_folder(out)   # before training, not after it
    from .scratch import scratch_dir
    # The curve is drawn before the model folder is staged; its scratch folder is removed at
    # the end, or by the next run if this one is killed.
    with scratch_dir('curve') as folder:
        return _train_and_save(args, out, os.path.join(folder, 'curve'))


def _train_click_and_save(args, out, curve):
    """``train fm|deepfm``: the section's cells (``train_fm``/``train_deepfm``), then the model
    folder with what scoring needs: ``features.json`` (the feature mapper) and, for MovieLens,
    ``catalog.json`` (every user's and film's fields, titles) and the training lines."""
    tab = _tab(args.framework)
    common = dict(devices=tab.parse_devices(args.devices), seed=args.seed,
                  dataset=args.dataset or CLICK_DATASET, data_dir=args.data, fast=args.fast,
                  plot=False, figure_path=curve, progress=True)
    for key, value in (('num_epochs', args.epochs), ('batch_size', args.batch_size),
                       ('lr', args.lr), ('num_factors', args.factors),
                       ('drop_rate', args.drop_rate)):
        if value is not None:
            common[key] = value
    if args.mlp is not None:
        common['mlp_dims'] = tuple(args.mlp)
    tic = time.time()
    if args.preset == 'tuned':
        net, history, info = _train_click_tuned(args, common['devices'], curve)
    else:
        train = tab.train_fm if args.model == 'fm' else tab.train_deepfm
        net, history, info = train(**common)
    seconds = time.time() - tic
    info = dict(info)
    interactions = info.pop('train_interactions', None)
    features = info.pop('features')
    history = dict(history, total_seconds=seconds)
    figures = {os.path.basename(p): p for p in history.get('figure', [])}
    history['figure'] = [os.path.join(out, name) for name in figures]
    record = json.loads(json.dumps({'history': history, 'info': info, 'command': sys.argv},
                                   default=_jsonable))
    files = {name: (lambda dst, src=src: _copy(src, dst)) for name, src in figures.items()}
    text = json.dumps(features, ensure_ascii=False)

    def write_features(dst):
        with open(dst, 'w', encoding='utf-8') as f:
            f.write(text)
    files['features.json'] = write_features
    catalog = os.path.join(info['data_dir'], 'catalog.json')
    if info['dataset'] == 'ml100k-ctr' and os.path.isfile(catalog):
        files['catalog.json'] = lambda dst: _copy(catalog, dst)
    tab.save_model(net, out, model=args.model, hparams=info['hparams'],
                   num_users=info.get('num_users'), num_items=info.get('num_items'),
                   train_interactions=interactions,
                   extra={'info': record['info'], 'test_exact': history.get('test_exact')},
                   history=record, files=files)
    params = 'model.pt' if args.framework == 'torch' else 'model.params'
    print(f'wrote {out}: history.json, curve.png, curve.svg, {params}, model.json, '
          f'features.json{", catalog.json" if "catalog.json" in files else ""} '
          f'({seconds:.1f} s)')
    return 0


def _train_and_save(args, out, curve):
    if args.model in CLICK_MODELS:
        return _train_click_and_save(args, out, curve)
    tab = _tab(args.framework)
    devices = tab.parse_devices(args.devices)
    common = dict(devices=devices, seed=args.seed, data_dir=args.data, fast=args.fast,
                  plot=False, figure_path=curve, progress=True)
    for key, value in (('num_epochs', args.epochs), ('batch_size', args.batch_size),
                       ('split_mode', args.split), ('lr', args.lr), ('wd', args.wd),
                       ('test_ratio', args.test_ratio)):
        if value is not None:
            common[key] = value
    tic = time.time()
    if args.model in RANKING_MODELS:
        net, history, info = _train_ranking(tab, args, common)
    elif args.preset == 'tuned':
        net, history, info = _train_tuned(args, devices, curve)
    elif args.model == 'mf':
        if args.factors is not None:
            common['num_factors'] = args.factors
        net, history, info = tab.train_mf(**common)
    else:
        if args.hidden is not None:
            common['num_hidden'] = args.hidden
        net, history, info = tab.train_autorec(user_based=args.user_based, **common)
    hparams = dict(info['hparams'])
    seconds = time.time() - tic
    info = dict(info)
    interactions = info.pop('train_interactions', None)
    last_items = info.pop('test_seq', None)   # Caser's users' last items: its own file
    history = dict(history)
    history['total_seconds'] = seconds
    saved_info = {k: v for k, v in info.items() if k not in ('model',)}
    figures = {os.path.basename(p): p for p in history.get('figure', [])}
    history['figure'] = [os.path.join(out, name) for name in figures]
    # json.loads(json.dumps(...)): NumPy scalars become numbers, anything else a string.
    record = json.loads(json.dumps({'history': history, 'info': saved_info,
                                    'command': sys.argv}, default=_jsonable))
    tab.save_model(net, out, model=args.model, hparams=hparams, num_users=info['num_users'],
                   num_items=info['num_items'], user_based=info.get('user_based', False),
                   train_interactions=interactions,
                   extra={'info': record['info'],
                          'test_rmse_exact': history.get('test_rmse_exact')},
                   history=record,
                   files=_model_files(figures, info.get('data_dir')),
                   **({'last_items': last_items} if last_items is not None else {}))
    exact = history.get('test_rmse_exact')
    if exact is not None:
        print(f'exact test RMSE {exact:.3f}')
    params = 'model.pt' if args.framework == 'torch' else 'model.params'
    extra = ', last_items.npz' if last_items is not None else ''
    print(f'wrote {out}: history.json, curve.png, curve.svg, {params}{extra}, model.json '
          f'({seconds:.1f} s)')
    return 0


def _train_ranking(tab, args, common):
    """``train neumf|caser``: the tab's experiment with the book's settings, the options
    given over them (it prints the book's two lines and the exact metrics); ``--preset
    tuned``: the tuned preset's settings instead, on the fast path."""
    common = {k: v for k, v in common.items() if k not in ('split_mode', 'test_ratio')}
    if args.preset == 'tuned':
        from .rank_tuning import SPLIT
        from .defaults import preset
        values = {k: v for k, v in preset(args.model, SPLIT, 'tuned').items()
                  if k != 'split_mode'}
        print(f'{NAMES[args.model]} tuned preset (docs/ranking-presets.md): '
              + ', '.join(f'{k} {v}' for k, v in values.items()), flush=True)
        train = tab.train_neumf if args.model == 'neumf' else tab.train_caser
        return train(**dict(common, fast=True), **values)
    for key, value in (('num_factors', args.factors), ('loss', args.loss),
                       ('output', args.output)):
        if value is not None:
            common[key] = value
    if args.model == 'neumf':
        if args.mlp is not None:
            common['nums_hiddens'] = args.mlp
        return tab.train_neumf(**common)
    for key in ('L', 'd', 'd_prime', 'drop_ratio'):
        if getattr(args, key) is not None:
            common[key] = getattr(args, key)
    return tab.train_caser(**common)


def _copy(src, dst):
    import shutil
    shutil.copyfile(src, dst)


def _model_files(figures, data_dir):
    """What the model folder holds besides the model: the curve, and the training data's
    u.item, so that recommend shows titles without reading anything outside the folder."""
    files = {name: (lambda dst, src=src: _copy(src, dst)) for name, src in figures.items()}
    titles = os.path.join(data_dir, 'u.item') if isinstance(data_dir, str) else None
    if titles and os.path.isfile(titles):
        files['u.item'] = lambda dst: _copy(titles, dst)
    return files


def _refuse_settings(args):
    """``--preset tuned`` sets the hyper-parameters itself: one line for the first given,
    before any tab is imported or data read (:func:`cmd_train`, for every model)."""
    given = [flag for flag, value in (
        ('--epochs', args.epochs), ('--lr', args.lr), ('--wd', args.wd),
        ('--batch-size', args.batch_size), ('--factors', args.factors),
        ('--hidden', args.hidden), ('--test-ratio', args.test_ratio), ('--mlp', args.mlp),
        ('--drop-rate', args.drop_rate), *((flag, getattr(args, name, None)) for flag, name in (
            ('--L', 'L'), ('--d', 'd'), ('--d-prime', 'd_prime'),
            ('--drop-ratio', 'drop_ratio'), ('--loss', 'loss'), ('--output', 'output'))))
        if value is not None] + (['--user-based'] if args.user_based else [])
    if given:
        raise UsageError(f'--preset tuned sets the hyper-parameters itself; drop {given[0]}')


def _train_click_tuned(args, devices, curve):
    """``train fm|deepfm --preset tuned``: the tuned preset on the MovieLens click data, early
    stopping on validation lines cut from the training file, then the test file."""
    from . import click_tuning
    net, history, info = click_tuning.train_preset(
        args.model, args.dataset or CLICK_DATASET, tab=_experiments(args.framework),
        seed=args.seed, data_dir=args.data, devices=devices, progress=True, figure_path=curve)
    for line in click_tuning.preset_lines(history):
        print(line)
    return net, history, info


def _train_tuned(args, devices, curve):
    """``train --preset tuned``: the tuned settings, early stopping on a validation set cut
    from the training split, then the exact test RMSE of the best epoch."""
    from . import tuning
    net, history, info = tuning.train_preset(
        args.model, args.split or BOOK[args.model]['split_mode'],
        tab=_experiments(args.framework), seed=args.seed,
        data_dir=args.data, devices=devices, progress=True, figure_path=curve)
    print(f'best epoch {history.get("best_epoch")} of {history["epoch"][-1]}: '
          f'validation RMSE {history["val_rmse"]:.3f}')
    if history.get('refit'):
        print(f'trained again on the whole training split for {history["refit"]["epochs"]} '
              'epochs')
    return net, history, info


def _titles(data_dir, model_dir, meta):
    """Titles from ``--data DIR`` when given, else from the model folder's own u.item, read
    only when ``model.json`` lists it (so checked, and never through a link); the model
    folder never sends the program to read elsewhere."""
    from . import fetch
    from .store import read_listed
    try:
        if data_dir is not None:
            if not os.path.isfile(os.path.join(data_dir, 'u.item')):
                _log(f'{PROG}: note: titles unavailable: no u.item in {data_dir} (give --data '
                     'DIR with the u.item of the training data)')
                return {}
            return fetch.read_item_titles(data_dir)
        if 'u.item' not in (meta.get('files') or {}):
            there = os.path.lexists(os.path.join(model_dir, 'u.item'))
            _log(f'{PROG}: note: titles unavailable: ' + (
                f'the u.item in {model_dir} is not listed in its model.json, so it is not '
                'read' if there else f'no u.item in {model_dir}') +
                ' (give --data DIR with the u.item of the training data)')
            return {}
        path = os.path.join(model_dir, 'u.item')
        return fetch.parse_item_titles(read_listed(model_dir, 'u.item', meta), path)
    except Exception as e:  # titles are a nicety: say why they are missing, keep the table
        _log(f'{PROG}: note: no titles ({str(e).splitlines()[0] if str(e) else e!r})')
        return {}


def _framework(folder):
    """The framework a saved model folder says it was trained with, read from the checked
    folder (:func:`d2l_recsys.store.load_model_folder`)."""
    from .store import load_model_folder
    framework = load_model_folder(folder).meta['framework']
    if framework not in ('mxnet', 'torch'):
        raise ValueError(f'{folder}: model.json names framework {framework!r}; expected '
                         "'mxnet' or 'torch'")
    return framework


def _recommend_clicks(args, tab, net, meta, interactions):
    """``recommend`` for FM/DeepFM: the model's probability that the user likes each film
    they did not rate in training, from the user's own fields and each film's (the model
    folder's ``catalog.json``), mapped as the training file was (``features.json``)."""
    from . import ctr_runs
    from .topk import rank_unseen
    features, catalog = ctr_runs.read_click_model_files(args.model, meta)
    if catalog is None:
        raise ValueError(f'{args.model}: this {meta["model"]} model was trained on data '
                         'without users and films (the book\'s advertising data: anonymous '
                         'fields), so it has nothing to recommend; train it on ml100k-ctr')
    item_ids, scores = ctr_runs.score_user(lambda x: tab.predict_clicks(net, x), features,
                                           catalog, args.user)
    full = _by_index(int(item_ids.max()), scores, item_ids)
    seen = None
    if interactions is not None:
        seen = set(interactions['items'][interactions['users'] == args.user - 1].tolist())
    missing = sorted(set(range(1, len(full) + 1)) - set(item_ids.tolist()))
    titles = {int(k): t for k, t in catalog.get('titles', {}).items()}
    rows = rank_unseen(full, args.k, seen=(seen or set()) | {i - 1 for i in missing},
                       titles=titles)
    ties = sum(row['score'] == rows[0]['score'] for row in rows) if rows else 0
    if ties > 1:
        _log(f'{PROG}: note: {ties} of these films tie at {rows[0]["score"]:.6g}, listed in id '
             "order: the book's model saturates its probability (its loss applies a second "
             'sigmoid, see docs/ctr.md)')
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f'top {len(rows)} unseen films for user {args.user} ({meta["model"]}: the '
          f'probability of a rating of 4 or 5; {len(seen) if seen is not None else "?"} rated '
          'in training):')
    print(f'{"rank":>4}  {"item":>5}  {"score":>6}  title')
    for row in rows:
        print(f'{row["rank"]:>4}  {row["item_id"]:>5}  {row["score"]:>6.3f}  '
              f'{row["title"]}'.rstrip())
    return 0


def _by_index(n, scores, item_ids):
    """A score per item index 0..n-1 from scores of MovieLens ids (others: -inf)."""
    import numpy
    full = numpy.full(n, -numpy.inf)
    full[item_ids - 1] = scores
    return full


def cmd_recommend(args):
    tab = _tab(_framework(args.model))
    net, meta, interactions = tab.load_model(args.model)
    if meta['model'] in CLICK_MODELS:
        return _recommend_clicks(args, tab, net, meta, interactions)
    num_users, num_items = meta['num_users'], meta['num_items']
    if not 1 <= args.user <= num_users:
        raise ValueError(f'unknown user id {args.user}: the model knows users 1..{num_users}')
    user_index = args.user - 1
    user_based = meta.get('user_based', False)
    inter_mat, seen = None, None
    if interactions is not None:
        inter_mat = tab.interaction_matrix(interactions, num_users, num_items, user_based)
        users = interactions['users']
        seen = set(interactions['items'][users == user_index].tolist())
    elif meta['model'] == 'autorec':
        raise ValueError(f'{args.model}: no train_interactions.npz; AutoRec needs the '
                         'training ratings as its input')
    else:
        _log(f'{PROG}: note: no training ratings saved, so seen items are not skipped')
    titles = _titles(args.data, args.model, meta)
    if meta['model'] in RANKING_MODELS:   # scores from the model itself (Caser: and its
        inter_mat = None                  # users' last items, checked on load)
    rows = tab.top_k(net, user_index, args.k, num_items=num_items, inter_mat=inter_mat,
                     user_based=user_based, seen=seen, titles=titles)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f'top {len(rows)} unseen items for user {args.user} '
          f'({meta["model"]}, {len(seen) if seen is not None else "?"} rated in training):')
    print(f'{"rank":>4}  {"item":>5}  {"score":>6}  title')
    for row in rows:
        print(f'{row["rank"]:>4}  {row["item_id"]:>5}  {row["score"]:>6.3f}  '
              f'{row["title"]}'.rstrip())
    return 0


def _exercise_names():
    from .exercises import EXERCISES
    return list(EXERCISES)


def cmd_exercises(args):
    from . import exercises, fetch
    unknown = [n for n in args.names if n not in exercises.EXERCISES]
    if unknown:
        raise UsageError(f'unknown exercise {unknown[0]!r}; choose from '
                         f'{", ".join(exercises.EXERCISES)}')
    from .atomic import check_output_dir
    out = args.out or exercises.OUT
    check_output_dir(out, '--out')   # before the data and the sweeps, not after them
    tab = _experiments(args.framework)
    tic = time.time()
    data_dir = fetch.ml100k_dir(args.data, log=_log) if args.data is None else args.data
    done = exercises.run_all(args.names or None, tab=tab, quick=args.quick,
                             data_dir=data_dir, out=out, log=_log)
    for d in done:
        print(f'{d["name"]}: {d["line"]}')
    print(f'wrote {out}: a figure (.png, .svg) and a table (.md, .csv) per exercise, '
          f'summary.md ({time.time() - tic:.0f} s)')
    return 0


def _start_point(model, split_mode, text):
    """A ``--start`` point: the JSON's values over the tuned preset's, search space's names
    only, each checked against the search space before anything runs."""
    from .defaults import OPTIONS_OFF, SPACES, preset
    try:
        given = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UsageError(f'--start must be a JSON object, got {text[:80]!r} ({e})'[:300]) \
            from None
    if not isinstance(given, dict):
        raise UsageError(f'--start must be a JSON object, got {text[:80]!r}')
    unknown = sorted(set(given) - set(SPACES[model]))
    if unknown:
        raise UsageError(f'--start: {model} searches {", ".join(SPACES[model])}; not '
                         f'{", ".join(unknown)}')
    try:
        checks.check_point(SPACES[model], given, '--start')
    except ValueError as e:
        raise UsageError(str(e)) from None
    from .defaults import TUNED
    # A model not tuned yet on this split has no preset to fill from: give every name.
    tuned = preset(model, split_mode, 'tuned') if (model, split_mode) in TUNED else {}
    # An option the preset does not set is off there (e.g. no input dropout).
    point = {k: given.get(k, tuned.get(k, OPTIONS_OFF.get(k))) for k in SPACES[model]}
    filled = {k: v for k, v in point.items() if k not in given}
    checks.check_point(SPACES[model], filled, f'the tuned {model} preset (give it in --start)')
    return point


def _seeds(text, option):
    try:
        return checks.parse_seeds(text, option)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _interrupted(cause, why):
    """Re-raise an interrupt (or SIGTERM's exit) saying ``why`` in the one line it ends with."""
    if isinstance(cause, KeyboardInterrupt):
        raise KeyboardInterrupt(why) from None
    print(f'{PROG}: terminated {why}', file=sys.stderr, flush=True)
    raise cause from None


def _check_ranking_tune(args):
    """``tune neumf|caser``: one line for what only the rating models' search takes."""
    if args.split not in (None, 'seq-aware'):
        raise UsageError(f"--split {args.split}: {NAMES[args.model]} uses the seq-aware split "
                         "(each user's latest item held out)")
    for flag, on in (('--clip', args.clip), ('--refit', args.refit)):
        if on:
            raise UsageError(f'{flag} is an MF and AutoRec option: {NAMES[args.model]}\'s '
                             'preset always trains on the whole training split for the '
                             'epochs validation chose')


def cmd_tune(args):
    """Every argument is checked before the search (its data, devices, start points, where
    the record goes); an interrupted search keeps its finished trials in the record."""
    from . import tuning
    from .atomic import atomic_write_text, check_output_file
    click = args.model in CLICK_MODELS
    if click and args.split is not None:
        raise UsageError(f'--split is an MF and AutoRec option; {NAMES[args.model]} tunes on '
                         "the MovieLens click data, whose test file is each user's latest "
                         'ratings (its validation lines are cut the same way)')
    eval_seeds = _seeds(args.eval_seeds, '--eval-seeds')
    search_seeds = None if args.search_seeds is None else _seeds(args.search_seeds,
                                                                  '--search-seeds')
    if search_seeds is not None and not search_seeds:
        raise UsageError('--search-seeds must name at least one seed')
    ranking = args.model in RANKING_MODELS
    if ranking:   # NeuMF, Caser: d2l_recsys.rank_tuning, the same steps on ranking metrics
        _check_ranking_tune(args)
    # The search of the model's half: the rating models', the ranking models' or the click
    # models' (each with search, evaluate, search_line and evaluation_line).
    tuner = importlib.import_module(f'{__package__}.' + ('click_tuning' if click else
                                                         'rank_tuning' if ranking else 'tuning'))
    split = CLICK_DATASET if click else tuner.SPLIT if ranking else args.split or 'random'
    if args.clip and args.model != 'autorec':
        raise UsageError(f'--clip is an AutoRec option; {NAMES[args.model]} predictions are '
                         'not clipped')
    start = [_start_point(args.model, split, text) for text in args.start]
    out = args.out or os.path.join('results', 'tune', f'{args.model}-{split}.json')
    check_output_file(out, '--out')
    tab = _experiments(args.framework)
    devices = _tab(args.framework).parse_devices(args.devices)
    record = None

    def write(record):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        atomic_write_text(out, json.dumps(record, indent=2, default=_jsonable) + '\n')

    try:
        record = tuner.search(args.model, split, tab=tab, trials=args.trials,
                              seed=args.seed, data_dir=args.data, devices=devices,
                              max_epochs=args.max_epochs, log=_log, seeds=search_seeds,
                              start=start, fixed={'clip': True} if args.clip else None)
        chosen = record['preset']
        if args.refit:
            chosen['refit'] = True
        print(tuner.search_line(record))
        if eval_seeds:
            values = {k: v for k, v in chosen.items() if k != 'split_mode'}
            more = {'choice_seeds': record['validation_seeds']} if ranking else {}
            record['evaluation'] = tuner.evaluate(args.model, split, tab=tab,
                                                  seeds=eval_seeds, values=values,
                                                  data_dir=args.data, devices=devices,
                                                  log=_log, **more)
            print(tuner.evaluation_line(record['evaluation']))
    except tuning.Interrupted as e:   # during the search: its finished trials
        why = f'after {e.record["finished"]} finished trial(s) of {args.trials}'
        if e.record['history']:
            write(e.record)
            why += f'; they are in {out} ("interrupted": true)'
        _interrupted(e.cause, why)
    except (KeyboardInterrupt, SystemExit) as e:   # during the evaluation: the whole search
        if record is None:
            raise
        record['interrupted'] = 'evaluation'
        write(record)
        _interrupted(e, f'while evaluating the chosen preset; the search is in {out}')
    write(record)
    print(f'wrote {out}')
    return 0


COMMANDS = {'data': cmd_data, 'train': cmd_train, 'recommend': cmd_recommend,
            'tune': cmd_tune, 'exercises': cmd_exercises}


def error_line(e):
    """One line for an expected failure. MXNet's errors put a C++ traceback header first
    ("Traceback (most recent call last):"); the line with the reason is the "MXNetError:"
    one."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    reason = [line for line in lines if 'Error:' in line and not line.startswith('File ')]
    if lines and lines[0].startswith('Traceback') and reason:
        text = reason[-1]
    else:
        text = lines[0] if lines else type(e).__name__
    if isinstance(e, KeyError):   # str(KeyError(1)) is just "1"
        text = f'KeyError: {text}'
    if len(text) > 400:
        text = text[:397] + '...'
    return text


def _terminated(signum, frame):
    # SIGTERM: unwind like an interrupt, so that temporary files are removed and a child
    # process (pip download) is stopped.
    raise SystemExit(128 + signum)


def main(argv=None):
    """Entry point; returns the exit status (0 ok, 1 failure, 2 bad usage)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:   # not the main thread: leave signals alone
        previous = None
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        from .scratch import sweep
        sweep()   # what killed runs left behind (staging folders, scratch, temporary files)
        fast = args.command == 'tune' or (
            args.command == 'train' and (args.fast or args.preset == 'tuned'))
        if fast and args.framework == 'mxnet':
            from . import fast_path_threads
            fast_path_threads(getattr(args, 'model', 'autorec'))   # must precede the first import of MXNet
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        _quiet_mxnet_shutdown()
        print(f'{PROG}: interrupted' + (f' {e}' if str(e) else ''), file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, KeyError, ArithmeticError, MemoryError) as e:
        # Expected failures (bad data, devices, files, a diverging run, MXNet's own errors)
        # are reported in one line; real bugs in other exception types show their traceback.
        _quiet_mxnet_shutdown()
        print(f'{PROG}: error: {error_line(e)}', file=sys.stderr)
        return 1


def _quiet_mxnet_shutdown():
    """After a failure, MXNet's exit hook (``MXNotifyShutdown``) raises the engine's pending
    error again (an allocation that failed, say) and Python prints its traceback after our one
    line; the hook still runs, without re-raising."""
    base = sys.modules.get('mxnet.base')
    hook = getattr(base, '_notify_shutdown', None)
    if hook is None:
        return
    import atexit
    atexit.unregister(hook)

    def notify_shutdown():
        try:
            base._LIB.MXNotifyShutdown()   # its status is the error already reported
        except Exception:
            pass
    atexit.register(notify_shutdown)
