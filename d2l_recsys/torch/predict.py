"""Using a trained PyTorch model: one rating, a user's top-k unseen items, saving and loading.

The PyTorch counterparts of the MXNet tab's ``predict`` module, same names and results. The
book ends :numref:`sec_mf` with the predicted rating of user index 20 for item index 30;
indices are 0-based (MovieLens id minus one), results also carry the MovieLens ``item_id``.
A saved model is a folder: ``model.json`` (format, ``framework: 'torch'``, the model and its
hyper-parameters), ``model.pt`` (the ``state_dict``) and, optionally,
``train_interactions.npz``.
"""
import json
import os

import numpy as onp
import torch

from ..atomic import atomic_write
from .models import AutoRec, MF

__all__ = ['predict_rating', 'score_items', 'top_k', 'interaction_matrix', 'save_model',
           'load_model', 'build_model', 'FORMAT', 'FRAMEWORK']

FORMAT = 'd2l-recsys-model/1'
FRAMEWORK = 'torch'
PARAMS, META, INTERACTIONS = 'model.pt', 'model.json', 'train_interactions.npz'
AUTOREC_EXTRAS = ('hidden_layers', 'encoder_activation', 'decoder_activation',
                  'hidden_activation')


def _device(net, device):
    if device is not None:
        return torch.device(device)
    return next(net.parameters()).device


def _check_index(name, value, n):
    if not 0 <= int(value) < n:
        raise ValueError(f'{name} {value} is out of range: the model knows 0..{n - 1} '
                         f'(0-based indices, MovieLens id minus one)')


def interaction_matrix(interactions, num_users, num_items, user_based=False, device=None):
    """The training matrix AutoRec reads, rebuilt from saved triples: ``(num_items,
    num_users)`` float32 (``(num_users, num_items)`` when ``user_based``)."""
    inter = onp.zeros((num_items, num_users), dtype=onp.float32)
    inter[onp.asarray(interactions['items']), onp.asarray(interactions['users'])] = \
        onp.asarray(interactions['ratings'])
    if user_based:
        inter = inter.T
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
            row, col = (user_index, item_index) if user_based else (item_index, user_index)
            _check_index('user' if user_based else 'item', row, inter_mat.shape[0])
            _check_index('item' if user_based else 'user', col, inter_mat.shape[1])
            return float(net(inter_mat[row:row + 1].to(device))[0, col])
        _check_index('user', user_index, net.P.num_embeddings)
        _check_index('item', item_index, net.Q.num_embeddings)
        scores = net(torch.tensor([int(user_index)], device=device),
                     torch.tensor([int(item_index)], device=device))
        return float(scores[0])


def score_items(net, user_index, num_items=None, *, inter_mat=None, user_based=False,
                device=None):
    """Predicted ratings of user ``user_index`` for every item, as a host NumPy array."""
    device = _device(net, device)
    net.eval()
    with torch.no_grad():
        if isinstance(net, AutoRec):
            if inter_mat is None:
                raise ValueError('AutoRec scores from the training interaction matrix: pass '
                                 'inter_mat=')
            if user_based:
                _check_index('user', user_index, inter_mat.shape[0])
                x = inter_mat[user_index:user_index + 1].to(device)
                return net(x)[0].cpu().numpy()
            _check_index('user', user_index, inter_mat.shape[1])
            return net(inter_mat.to(device))[:, user_index].cpu().numpy()
        if num_items is None:
            num_items = net.Q.num_embeddings
        _check_index('user', user_index, net.P.num_embeddings)
        users = torch.full((num_items,), int(user_index), dtype=torch.int64, device=device)
        return net(users, torch.arange(num_items, device=device)).cpu().numpy()


def top_k(net, user_index, k=10, *, num_items=None, inter_mat=None, user_based=False,
          seen=None, titles=None, device=None):
    """The ``k`` highest-scored items user ``user_index`` has not rated, best first.

    ``seen``: item indices to skip (default: the user's non-zero entries of ``inter_mat``);
    ``titles``: ``{item_id: title}``. Returns dicts with ``rank``, ``item_index``,
    ``item_id``, ``score``, ``title``, as the MXNet tab's.
    """
    if int(k) < 1:
        raise ValueError(f'k must be at least 1, got {k}')
    scores = score_items(net, user_index, num_items, inter_mat=inter_mat,
                         user_based=user_based, device=device)
    if seen is None and inter_mat is not None:
        row = inter_mat[user_index] if user_based else inter_mat[:, user_index]
        seen = onp.flatnonzero(row.cpu().numpy())
    mask = onp.ones(len(scores), dtype=bool)
    if seen is not None:
        mask[onp.asarray(list(seen), dtype=onp.int64)] = False
    candidates = onp.flatnonzero(mask)
    # Stable sort on -score: equal scores keep item order, so results are reproducible.
    best = candidates[onp.argsort(-scores[candidates], kind='stable')[:int(k)]]
    titles = titles or {}
    return [{'rank': r + 1, 'item_index': int(j), 'item_id': int(j) + 1,
             'score': float(scores[j]), 'title': titles.get(int(j) + 1, '')}
            for r, j in enumerate(best)]


def _json_default(obj):
    if isinstance(obj, onp.integer):
        return int(obj)
    if isinstance(obj, onp.floating):
        return float(obj)
    raise TypeError(f'{type(obj).__name__} is not JSON serialisable')


def _write_folder(directory, *, meta, write_params, interactions):
    """Write the parameters, then the interactions, then ``model.json`` (last, so a folder
    with a description always has its files), each whole or not at all."""
    atomic_write(os.path.join(directory, meta['params']), write_params)
    if interactions is not None:
        def write_npz(tmp):
            with open(tmp, 'wb') as f:
                onp.savez_compressed(f, **{k: onp.asarray(v) for k, v in interactions.items()})
        atomic_write(os.path.join(directory, INTERACTIONS), write_npz)
    text = json.dumps(meta, indent=2, default=_json_default) + '\n'

    def write_json(tmp):
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
    atomic_write(os.path.join(directory, META), write_json)
    return directory


def _read_folder(directory):
    """``(meta, params_path, interactions)`` of a model folder; one-line errors."""
    meta_path = os.path.join(directory, META)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f'{directory}: no {META} here (not a model folder written by '
                                '`python -m d2l_recsys train`)')
    try:
        with open(meta_path, encoding='utf-8') as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{meta_path} line {e.lineno}: not valid JSON ({e.msg})') from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT:
        found = meta.get('format') if isinstance(meta, dict) else None
        raise ValueError(f'{meta_path}: unknown format {found!r} (expected {FORMAT!r})')
    interactions = None
    inter_path = os.path.join(directory, INTERACTIONS)
    if os.path.isfile(inter_path):
        with onp.load(inter_path) as z:
            interactions = {k: z[k] for k in z.files}
    return meta, os.path.join(directory, meta.get('params', PARAMS)), interactions


def save_model(net, directory, *, model, hparams, num_users, num_items, user_based=False,
               train_interactions=None, extra=None):
    """Write ``model.pt`` (the ``state_dict``), ``model.json`` (``framework: 'torch'`` and
    what rebuilds the model) and, when given, ``train_interactions.npz`` into ``directory``,
    each file to a temporary name first and then renamed."""
    if model not in ('mf', 'autorec'):
        raise ValueError(f"model must be 'mf' or 'autorec', got {model!r}")
    meta = {'format': FORMAT, 'framework': FRAMEWORK, 'model': model,
            'hparams': dict(hparams), 'num_users': int(num_users),
            'num_items': int(num_items), 'user_based': bool(user_based), 'params': PARAMS}
    if extra:
        meta['extra'] = extra
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return _write_folder(directory, meta=meta, write_params=lambda tmp: torch.save(state, tmp),
                         interactions=train_interactions)


def build_model(meta):
    """A model (PyTorch's default initialisation) as ``model.json`` describes it."""
    kind, hp = meta.get('model'), meta.get('hparams', {})
    try:
        if kind == 'mf':
            return MF(int(hp['num_factors']), meta['num_users'], meta['num_items'])
        if kind == 'autorec':
            size = meta['num_items'] if meta.get('user_based') else meta['num_users']
            extras = {k: hp[k] for k in AUTOREC_EXTRAS if k in hp}
            return AutoRec(int(hp['num_hidden']), size, hp.get('dropout', 0.05), **extras)
    except KeyError as e:
        raise ValueError(f'model description lacks {e.args[0]!r}') from None
    raise ValueError(f"unknown model {kind!r} (expected 'mf' or 'autorec')")


def load_state_checked(net, path, device=None):
    """Load the ``state_dict`` in ``path`` into ``net``; a file of another model or shape
    raises ValueError listing what differs."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such parameter file')
    try:
        saved = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:   # pickle, zip and torch errors alike: one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f'{path}: not a parameter file PyTorch can read ({first[:160]})') \
            from None
    if not isinstance(saved, dict):
        raise ValueError(f'{path}: not a state_dict')
    own = net.state_dict()
    problems = []
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    if missing:
        problems.append(f'missing in the file: {", ".join(missing)}')
    if unexpected:
        problems.append(f'not in the model: {", ".join(unexpected)}')
    for name in sorted(set(own) & set(saved)):
        if tuple(own[name].shape) != tuple(saved[name].shape):
            problems.append(f'{name} is {tuple(saved[name].shape)} in the file but '
                            f'{tuple(own[name].shape)} in the model')
    if problems:
        raise ValueError(f'{path} does not fit this {type(net).__name__}: '
                         + '; '.join(problems))
    net.load_state_dict(saved)
    return net.to(device or 'cpu')


def load_model(directory, device=None):
    """Rebuild and load a model saved by :func:`save_model`: ``(net, meta, interactions)``
    (``interactions`` is None when none were saved); the model is in evaluation mode."""
    meta, params_path, interactions = _read_folder(directory)
    framework = meta.get('framework', 'mxnet')
    if framework != FRAMEWORK:
        raise ValueError(f'{directory}: a {framework} model; load it with that tab '
                         f'(d2l_recsys.{framework})')
    net = build_model(meta)
    load_state_checked(net, params_path, device)
    net.eval()
    return net, meta, interactions
