"""Using a trained PyTorch model: one rating, a user's top-k unseen items, saving and loading.

The PyTorch counterparts of the MXNet tab's ``predict`` module, same names and results. The
book ends :numref:`sec_mf` with the predicted rating of user index 20 for item index 30;
indices are 0-based (MovieLens id minus one), results also carry the MovieLens ``item_id``.
A saved model is the folder :mod:`d2l_recsys.store` writes and checks for both tabs:
``model.json`` (``framework: 'torch'``, the model, its hyper-parameters and every file's size
and SHA-256), ``model.pt`` (the ``state_dict``) and, optionally, ``train_interactions.npz`` and
``history.json``.
"""
import os

import numpy as onp
import torch

from ..checks import brief, check_finite, positive_int
from ..store import (check_shapes, interaction_array, load_model_folder, model_from_meta,
                     model_meta, save_model_folder)
from ..topk import autorec_cell, check_index, rank_unseen
from .autorec import AutoRec
from .deepfm import DeepFM
from .fm import FM
from .mf import MF
from .neumf import NeuMF
from .seqrec import Caser

__all__ = ['predict_rating', 'score_items', 'top_k', 'interaction_matrix', 'save_model',
           'load_model', 'build_model', 'load_state_checked', 'read_state', 'FRAMEWORK']

FRAMEWORK = 'torch'
PARAMS = 'model.pt'


def _device(net, device):
    if device is not None:
        return torch.device(device)
    return next(net.parameters()).device


def interaction_matrix(interactions, num_users, num_items, user_based=False, device=None):
    """The training matrix AutoRec reads, rebuilt from saved triples: ``(num_items,
    num_users)`` float32 (``(num_users, num_items)`` when ``user_based``). Ids out of range
    and ratings off the 1-5 scale are refused (:func:`d2l_recsys.store.interaction_array`)."""
    inter = interaction_array(interactions, num_users, num_items, user_based)   # checked
    return torch.tensor(inter, device=device or 'cpu')


def predict_rating(net, user_index, item_index, *, inter_mat=None, user_based=False,
                   device=None):
    """Predicted rating of user ``user_index`` for item ``item_index`` (0-based), a float.

    MF: ``net(torch.tensor([user]), torch.tensor([item]))``. AutoRec needs ``inter_mat``, the
    training matrix in the model's orientation (item-based reconstructs the item's row).
    """
    device = _device(net, device)
    net.eval()
    with torch.no_grad():
        if isinstance(net, AutoRec):
            if inter_mat is None:
                raise ValueError('AutoRec predicts from the training interaction matrix: pass '
                                 'inter_mat=')
            row, col = autorec_cell(user_index, item_index, inter_mat.shape, user_based)
            return float(net(inter_mat[row:row + 1].to(device))[0, col])
        user_index = check_index('user', user_index, net.P.num_embeddings)
        item_index = check_index('item', item_index, net.Q.num_embeddings)
        scores = net(torch.tensor([user_index], device=device),
                     torch.tensor([item_index], device=device))
        return float(scores[0])


def _ranking_scores(net, user_index, num_items, seq, device):
    """A NeuMF's or a Caser's scores of every item for one user (Caser: after the user's row
    of ``seq``, or of ``net.last_items``, which :func:`load_model` sets)."""
    check_index('user', user_index, net.P.num_embeddings)
    users = torch.full((num_items,), int(user_index), dtype=torch.int64, device=device)
    items = torch.arange(num_items, device=device)
    if not hasattr(net, 'conv_v'):
        return net(users, items).reshape(-1).cpu().numpy()
    seq = getattr(net, 'last_items', None) if seq is None else seq
    if seq is None:
        raise ValueError("Caser scores after each user's last training items: pass seq= "
                         '(a model loaded with load_model has them)')
    window = torch.as_tensor(onp.asarray(seq)[int(user_index)], dtype=torch.int64,
                             device=device).repeat(num_items, 1)
    return net(users, window, items).reshape(-1).cpu().numpy()


def score_items(net, user_index, num_items=None, *, inter_mat=None, user_based=False,
                device=None, seq=None):
    """Predicted ratings (NeuMF, Caser: ranking scores) of user ``user_index`` for every item,
    as a host NumPy array. ``seq``: Caser's users' last items (default ``net.last_items``)."""
    device = _device(net, device)
    net.eval()
    with torch.no_grad():
        if isinstance(net, (NeuMF, Caser)):
            return _ranking_scores(net, user_index, num_items or net.Q.num_embeddings, seq,
                                   device)
        if isinstance(net, AutoRec):
            if inter_mat is None:
                raise ValueError('AutoRec scores from the training interaction matrix: pass '
                                 'inter_mat=')
            if user_based:
                user_index = check_index('user', user_index, inter_mat.shape[0])
                x = inter_mat[user_index:user_index + 1].to(device)
                return net(x)[0].cpu().numpy()
            user_index = check_index('user', user_index, inter_mat.shape[1])
            return net(inter_mat.to(device))[:, user_index].cpu().numpy()
        if num_items is None:
            num_items = net.Q.num_embeddings
        user_index = check_index('user', user_index, net.P.num_embeddings)
        users = torch.full((num_items,), user_index, dtype=torch.int64, device=device)
        return net(users, torch.arange(num_items, device=device)).cpu().numpy()


def top_k(net, user_index, k=10, *, num_items=None, inter_mat=None, user_based=False,
          seen=None, titles=None, device=None, seq=None):
    """The ``k`` highest-scored items user ``user_index`` has not rated, best first.

    ``seen``: item indices to skip (default: the user's non-zero entries of ``inter_mat``);
    ``titles``: ``{item_id: title}``. Returns dicts with ``rank``, ``item_index``,
    ``item_id``, ``score``, ``title``, as the MXNet tab's.
    """
    k = positive_int('k', k)
    scores = score_items(net, user_index, num_items, inter_mat=inter_mat,
                         user_based=user_based, device=device, seq=seq)
    user_index = int(user_index)   # checked by score_items
    if seen is None and inter_mat is not None:
        row = inter_mat[user_index] if user_based else inter_mat[:, user_index]
        seen = onp.flatnonzero(row.cpu().numpy())
    return rank_unseen(scores, k, seen=seen, titles=titles)


def save_model(net, directory, *, model, hparams, num_users, num_items, user_based=False,
               train_interactions=None, extra=None, history=None, files=None,
               last_items=None):
    """Write the model folder ``directory`` whole (:func:`d2l_recsys.store.save_model_folder`):
    ``model.pt`` (the ``state_dict``, on the CPU), ``model.json`` (``framework: 'torch'`` and
    what rebuilds the model), ``train_interactions.npz`` when given, ``history.json`` when
    ``history`` is given, any ``files`` (``{name: write(path)}``) and, for Caser,
    ``last_items`` (each user's last ``L`` training items, ``info['test_seq']`` of
    ``train_caser``), which :func:`load_model` checks and sets as ``net.last_items``. An
    older model there is replaced whole or not at all, as with the MXNet tab's ``save_model``;
    a model whose parameters hold NaN or infinite values is refused before anything is written.
    """
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    check_finite(_host(state), 'save_model')
    meta = model_meta(FRAMEWORK, PARAMS, model=model, hparams=hparams, num_users=num_users,
                      num_items=num_items, user_based=user_based, extra=extra)
    save_model_folder(directory, meta=meta, write_params=lambda path: torch.save(state, path),
                      interactions=train_interactions, history=history, files=files,
                      last_items=last_items)
    return directory


def build_model(meta):
    """A model (PyTorch's default initialisation) as ``model.json`` describes it;
    :func:`d2l_recsys.store.model_from_meta` with this tab's classes."""
    return model_from_meta(meta, framework=FRAMEWORK, tab='PyTorch', mf=MF, autorec=AutoRec,
                           neumf=NeuMF, caser=Caser, fm=FM, deepfm=DeepFM)


def _host(state):
    """``(name, NumPy array)`` of a state_dict's floating-point tensors, for the checks."""
    return ((name, value.detach().float().cpu().numpy()) for name, value in state.items()
            if value.is_floating_point())


def read_state(path):
    """The ``state_dict`` in ``path``, checked before any model is built: a file PyTorch can
    read with ``weights_only=True``, holding a dict of names to floating-point tensors, none
    NaN or infinite. ValueError in one line otherwise."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such parameter file')
    try:
        saved = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:   # pickle, zip and torch errors alike: one line, whole words
        raise ValueError(f'{path}: not a parameter file PyTorch can read ({type(e).__name__}: '
                         f'{brief(e, 120)})') from None
    if not isinstance(saved, dict):
        raise ValueError(f'{path}: not a state_dict (of type {type(saved).__name__})')
    for name, value in saved.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{path}: {str(name)[:80]!r} is of type {type(value).__name__}, '
                             'not a tensor: not a state_dict of this package')
        if not value.is_floating_point():
            raise ValueError(f'{path}: {name} holds {value.dtype} values, not floating-point '
                             'parameters')
    check_finite(_host(saved), path)
    return saved


def _shapes(state):
    return {name: tuple(value.shape) for name, value in state.items()}


def load_state_checked(net, path, device=None):
    """Load the ``state_dict`` in ``path`` into ``net`` after :func:`read_state`; a file of
    another model or shape raises ValueError listing what differs."""
    saved = read_state(path)
    check_shapes(_shapes(net.state_dict()), _shapes(saved), path, type(net).__name__)
    net.load_state_dict(saved)
    return net.to(device or 'cpu')


def load_model(directory, device=None):
    """Rebuild and load a model saved by :func:`save_model`, after checking the folder
    (:func:`d2l_recsys.store.load_model_folder`: nothing outside it is read).

    Returns ``(net, meta, interactions)`` (``interactions`` is None when none were saved),
    the model in evaluation mode. The parameter file is read and checked first (tensors of
    the shapes the description gives, none NaN or infinite), the model's shapes taken from
    a model built on PyTorch's ``meta`` device (no memory), and only then is it built.
    """
    folder = load_model_folder(directory)
    saved = read_state(folder.params_path)
    with torch.device('meta'):   # shapes only: nothing is allocated for a wrong description
        shell = build_model(folder.meta)
    check_shapes(_shapes(shell.state_dict()), _shapes(saved), folder.params_path,
                 type(shell).__name__)
    net = build_model(folder.meta)
    net.load_state_dict(saved)
    if folder.last_items is not None:   # Caser: each user's last training items, checked
        net.last_items = folder.last_items
    net.to(device or 'cpu').eval()
    return net, folder.meta, folder.interactions
