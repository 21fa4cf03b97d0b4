"""Using a trained model: one rating, the top-k unseen items of a user, saving and loading.

The book ends :numref:`sec_mf` with ``net(np.array([20]), np.array([30]))``, the predicted
rating of user index 20 for item index 30. Indices here are the models' 0-based ones
(MovieLens id minus one), as in the book; results also carry the MovieLens ``item_id``.
"""
import os

import mxnet as mx
import numpy as onp
from mxnet import np, npx

from ..store import FORMAT, load_model_folder, model_from_meta, model_meta, save_model_folder
from ..topk import autorec_cell, check_index, rank_unseen
from .autorec import AutoRec
from .mf import MF

npx.set_np()

__all__ = ['predict_rating', 'score_items', 'top_k', 'interaction_matrix', 'save_model',
           'load_model', 'load_parameters_checked', 'build_model', 'FORMAT']

PARAMS = 'model.params'


def _ctx(net, ctx):
    if ctx is not None:
        return ctx
    return next(iter(net.collect_params().values())).list_ctx()[0]


def interaction_matrix(interactions, num_users, num_items, user_based=False, ctx=None):
    """The book's ``(num_items, num_users)`` rating matrix from 0-based ``users``, ``items``,
    ``ratings`` arrays (``(num_users, num_items)`` with ``user_based=True``); the AutoRec input.
    """
    inter = onp.zeros((num_items, num_users), dtype=onp.float32)
    inter[onp.asarray(interactions['items']), onp.asarray(interactions['users'])] = \
        onp.asarray(interactions['ratings'])
    if user_based:
        inter = inter.T
    return np.array(inter, ctx=ctx or mx.cpu())


def predict_rating(net, user_index, item_index, *, inter_mat=None, user_based=False, ctx=None):
    """Predicted rating of user ``user_index`` for item ``item_index`` (0-based), as a float.

    MF: the book's ``net(np.array([user]), np.array([item]))``. AutoRec needs ``inter_mat``,
    the training matrix in the model's orientation: item-based reconstructs the item's row and
    reads the user's entry, user-based the other way round.
    """
    ctx = _ctx(net, ctx)
    if isinstance(net, AutoRec):
        if inter_mat is None:
            raise ValueError('AutoRec predicts from the training interaction matrix: pass '
                             'inter_mat=')
        row, col = autorec_cell(user_index, item_index, inter_mat.shape, user_based)
        x = inter_mat[row:row + 1].as_in_ctx(ctx)
        return float(net(x)[0, col])
    check_index('user', user_index, net.P.weight.shape[0])
    check_index('item', item_index, net.Q.weight.shape[0])
    scores = net(np.array([user_index], dtype='int', ctx=ctx),
                 np.array([item_index], dtype='int', ctx=ctx))
    return float(scores[0])


def score_items(net, user_index, num_items=None, *, inter_mat=None, user_based=False,
                ctx=None):
    """Predicted ratings of user ``user_index`` for every item, as a host NumPy array."""
    ctx = _ctx(net, ctx)
    if isinstance(net, AutoRec):
        if inter_mat is None:
            raise ValueError('AutoRec scores from the training interaction matrix: pass '
                             'inter_mat=')
        if user_based:
            check_index('user', user_index, inter_mat.shape[0])
            x = inter_mat[user_index:user_index + 1].as_in_ctx(ctx)
            return net(x)[0].asnumpy()
        check_index('user', user_index, inter_mat.shape[1])
        return net(inter_mat.as_in_ctx(ctx))[:, user_index].asnumpy()
    if num_items is None:
        num_items = net.Q.weight.shape[0]
    check_index('user', user_index, net.P.weight.shape[0])
    users = np.full((num_items,), user_index, dtype='int', ctx=ctx)
    return net(users, np.arange(num_items, dtype='int', ctx=ctx)).asnumpy()


def top_k(net, user_index, k=10, *, num_items=None, inter_mat=None, user_based=False,
          seen=None, titles=None, ctx=None):
    """The ``k`` highest-scored items user ``user_index`` has not rated, best first.

    ``seen``: item indices to skip (default: the user's non-zero entries of ``inter_mat`` when
    given). ``titles``: ``{item_id: title}`` as ``fetch.read_item_titles`` returns (MovieLens
    ids). Returns dicts with ``rank``, ``item_index``, ``item_id``, ``score``, ``title``.
    """
    if int(k) < 1:
        raise ValueError(f'k must be at least 1, got {k}')
    scores = score_items(net, user_index, num_items, inter_mat=inter_mat,
                         user_based=user_based, ctx=ctx)
    if seen is None and inter_mat is not None:
        row = inter_mat[user_index] if user_based else inter_mat[:, user_index]
        seen = onp.flatnonzero(row.asnumpy())
    return rank_unseen(scores, k, seen=seen, titles=titles)


def save_model(net, directory, *, model, hparams, num_users, num_items, user_based=False,
               train_interactions=None, extra=None, history=None, files=None):
    """Write the model folder ``directory`` whole (:func:`d2l_recsys.store.save_model_folder`):
    ``model.params`` (``save_parameters``), ``model.json`` (what rebuilds the model, with the
    size and SHA-256 of every file), ``train_interactions.npz`` when given, ``history.json``
    when ``history`` is given and any ``files`` (``{name: write(path)}``). An older model in
    ``directory`` is replaced whole or not at all; nothing half-written is ever left.
    """
    meta = model_meta('mxnet', PARAMS, model=model, hparams=hparams, num_users=num_users,
                      num_items=num_items, user_based=user_based, extra=extra)
    save_model_folder(directory, meta=meta, write_params=net.save_parameters,
                      interactions=train_interactions, history=history, files=files)
    return directory


def build_model(meta):
    """An uninitialised model as ``model.json`` describes it (one that names no framework is
    an MXNet one); :func:`d2l_recsys.store.model_from_meta` with this tab's classes."""
    return model_from_meta(meta, framework='mxnet', tab='MXNet', mf=MF, autorec=AutoRec,
                           default_framework='mxnet')


def _load_arrays(path):
    try:
        return npx.load(path)
    except mx.base.MXNetError as e:
        first = (str(e).strip().splitlines() or [''])[0]
        raise ValueError(f'{path}: not a parameter file MXNet can read ({first[:160]})') \
            from None


def load_parameters_checked(net, path, ctx=None):
    """``net.load_parameters(path, ctx)``, after checking names and shapes against ``net``.

    A file from a model of another shape (other num_factors/num_hidden, or another data set's
    numbers of users/items) raises ValueError listing what differs, instead of Gluon's
    assertion deep inside ``load_parameters``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such parameter file')
    saved = _load_arrays(path)
    params = net._collect_params_with_prefix()  # the names save_parameters writes
    problems = []
    missing = sorted(set(params) - set(saved))
    unexpected = sorted(set(saved) - set(params))
    if missing:
        problems.append(f'missing in the file: {", ".join(missing)}')
    if unexpected:
        problems.append(f'not in the model: {", ".join(unexpected)}')
    for name in sorted(set(params) & set(saved)):
        want, got = params[name].shape, tuple(saved[name].shape)
        fits = len(want) == len(got) and all(w in (-1, 0) or w == g
                                             for w, g in zip(want, got))
        if not fits:
            shown = '(' + ', '.join('?' if w in (-1, 0) else str(w) for w in want) + \
                (',)' if len(want) == 1 else ')')
            problems.append(f'{name} is {got} in the file but {shown} in the model')
    if problems:
        raise ValueError(f'{path} does not fit this {type(net).__name__}: '
                         + '; '.join(problems))
    net.load_parameters(path, ctx=ctx)
    return net


def load_model(directory, ctx=None):
    """Rebuild and load a model saved by :func:`save_model`, after checking the folder
    (:func:`d2l_recsys.store.load_model_folder`: nothing outside it is read).

    Returns ``(net, meta, interactions)``; ``interactions`` is None when none were saved.
    A parameter file of another shape, or one holding NaN or infinite values, is refused.
    """
    folder = load_model_folder(directory)
    net = build_model(folder.meta)
    ctx = ctx or mx.cpu()
    load_parameters_checked(net, folder.params_path, ctx)
    for name, param in net._collect_params_with_prefix().items():   # P.weight, ...
        if not onp.isfinite(param.data(ctx).asnumpy()).all():
            raise ValueError(f'{folder.params_path}: {name} holds NaN or infinite values; '
                             'the model is unusable (train it again)')
    return net, folder.meta, folder.interactions
