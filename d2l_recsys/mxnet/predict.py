"""Using a trained model: one rating, the top-k unseen items of a user, saving and loading.

The book ends :numref:`sec_mf` with ``net(np.array([20]), np.array([30]))``, the predicted
rating of user index 20 for item index 30. Indices here are the models' 0-based ones
(MovieLens id minus one), as in the book; results also carry the MovieLens ``item_id``.
"""
import os

import mxnet as mx
import numpy as onp
from mxnet import autograd, np, npx

from ..checks import brief, check_finite, positive_int
from ..store import (FORMAT, check_shapes, interaction_array, load_model_folder,
                     model_from_meta, model_meta, save_model_folder)
from ..topk import autorec_cell, check_index, rank_unseen
from . import fast_ranking
from .autorec import AutoRec
from .deepfm import DeepFM
from .fm import FM
from .mf import MF
from .neumf import NeuMF
from .seqrec import Caser

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
    Ids out of range and ratings off the 1-5 scale are refused
    (:func:`d2l_recsys.store.interaction_array`).
    """
    inter = interaction_array(interactions, num_users, num_items, user_based)   # checked
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
    user_index = check_index('user', user_index, net.P.weight.shape[0])
    item_index = check_index('item', item_index, net.Q.weight.shape[0])
    scores = net(np.array([user_index], dtype='int', ctx=ctx),
                 np.array([item_index], dtype='int', ctx=ctx))
    return float(scores[0])


def _ranking_scores(net, user_index, num_items, seq, ctx):
    """A NeuMF's or a Caser's scores of every item for one user (Caser: after the user's row
    of ``seq``, or of ``net.last_items``, which :func:`load_model` sets)."""
    user_index = check_index('user', user_index, net.P.weight.shape[0])
    users = np.full((num_items,), user_index, dtype='int', ctx=ctx)
    items = np.arange(num_items, dtype='int', ctx=ctx)
    with autograd.predict_mode():
        if not hasattr(net, 'conv_v'):
            return net(users, items).asnumpy().reshape(-1)
        seq = getattr(net, 'last_items', None) if seq is None else seq
        if seq is None:
            raise ValueError("Caser scores after each user's last training items: pass seq= "
                             '(a model loaded with load_model has them)')
        window = onp.repeat(onp.asarray(seq)[int(user_index)][None, :], num_items, axis=0)
        return net(users, np.array(window, ctx=ctx), items).asnumpy().reshape(-1)


def score_items(net, user_index, num_items=None, *, inter_mat=None, user_based=False,
                ctx=None, seq=None):
    """Predicted ratings (NeuMF, Caser: ranking scores) of user ``user_index`` for every item,
    as a host NumPy array. ``seq``: Caser's users' last items (default ``net.last_items``)."""
    ctx = _ctx(net, ctx)
    if hasattr(net, 'prediction_layer') or hasattr(net, 'conv_v'):   # NeuMF, Caser
        return _ranking_scores(net, user_index, num_items or net.Q.weight.shape[0], seq, ctx)
    if isinstance(net, AutoRec):
        if inter_mat is None:
            raise ValueError('AutoRec scores from the training interaction matrix: pass '
                             'inter_mat=')
        if user_based:
            user_index = check_index('user', user_index, inter_mat.shape[0])
            x = inter_mat[user_index:user_index + 1].as_in_ctx(ctx)
            return net(x)[0].asnumpy()
        user_index = check_index('user', user_index, inter_mat.shape[1])
        return net(inter_mat.as_in_ctx(ctx))[:, user_index].asnumpy()
    if num_items is None:
        num_items = net.Q.weight.shape[0]
    user_index = check_index('user', user_index, net.P.weight.shape[0])
    users = np.full((num_items,), user_index, dtype='int', ctx=ctx)
    return net(users, np.arange(num_items, dtype='int', ctx=ctx)).asnumpy()


def top_k(net, user_index, k=10, *, num_items=None, inter_mat=None, user_based=False,
          seen=None, titles=None, ctx=None, seq=None):
    """The ``k`` highest-scored items user ``user_index`` has not rated, best first.

    ``seen``: item indices to skip (default: the user's non-zero entries of ``inter_mat`` when
    given). ``titles``: ``{item_id: title}`` as ``fetch.read_item_titles`` returns (MovieLens
    ids). Returns dicts with ``rank``, ``item_index``, ``item_id``, ``score``, ``title``.
    """
    k = positive_int('k', k)
    scores = score_items(net, user_index, num_items, inter_mat=inter_mat,
                         user_based=user_based, ctx=ctx, seq=seq)
    user_index = int(user_index)   # checked by score_items
    if seen is None and inter_mat is not None:
        row = inter_mat[user_index] if user_based else inter_mat[:, user_index]
        seen = onp.flatnonzero(row.asnumpy())
    return rank_unseen(scores, k, seen=seen, titles=titles)


def save_model(net, directory, *, model, hparams, num_users, num_items, user_based=False,
               train_interactions=None, extra=None, history=None, files=None,
               last_items=None):
    """Write the model folder ``directory`` whole (:func:`d2l_recsys.store.save_model_folder`):
    ``model.params`` (``save_parameters``), ``model.json`` (what rebuilds the model, with the
    size and SHA-256 of every file), ``train_interactions.npz`` when given, ``history.json``
    when ``history`` is given, any ``files`` (``{name: write(path)}``) and, for Caser,
    ``last_items`` (each user's last ``L`` training items, ``info['test_seq']`` of
    ``train_caser``), which :func:`load_model` checks and sets as ``net.last_items``. An older
    model in ``directory`` is replaced whole or not at all; nothing half-written is ever left.
    A model whose parameters hold NaN or infinite values is refused before anything is
    written.
    """
    check_finite(((name, param.data().asnumpy())
                  for name, param in net._collect_params_with_prefix().items()), 'save_model')
    meta = model_meta('mxnet', PARAMS, model=model, hparams=hparams, num_users=num_users,
                      num_items=num_items, user_based=user_based, extra=extra)
    save_model_folder(directory, meta=meta, write_params=net.save_parameters,
                      interactions=train_interactions, history=history, files=files,
                      last_items=last_items)
    return directory


def build_model(meta):
    """An uninitialised model as ``model.json`` describes it (one that names no framework is
    an MXNet one); :func:`d2l_recsys.store.model_from_meta` with this tab's classes."""
    return model_from_meta(meta, framework='mxnet', tab='MXNet', mf=MF, autorec=AutoRec,
                           default_framework='mxnet', neumf=NeuMF, caser=_caser, fm=FM,
                           deepfm=DeepFM)


def _caser(*args, **ablation):
    # The book's block; a Caser trained without one of its convolutions (which the book's
    # block cannot run) is the fast path's twin, whose parameter names are the book's.
    return fast_ranking.Caser(*args, **ablation) if ablation else Caser(*args)


def _load_arrays(path):
    try:
        return npx.load(path)
    except mx.base.MXNetError as e:
        raise ValueError(f'{path}: not a parameter file MXNet can read ({brief(e)})') \
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
    check_shapes({name: p.shape for name, p in params.items()},
                 {name: tuple(a.shape) for name, a in saved.items()}, path, type(net).__name__)
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
    check_finite(((name, param.data(ctx).asnumpy())   # P.weight, ...
                  for name, param in net._collect_params_with_prefix().items()),
                 folder.params_path)
    if folder.last_items is not None:   # Caser: each user's last training items, checked
        net.last_items = folder.last_items
    return net, folder.meta, folder.interactions
