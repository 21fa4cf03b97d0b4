r"""Every user's score of every item from a ranking model's weights, framework-free.

The book's evaluator calls the model once per user on a DataLoader of that user's items;
evaluating all 943 x 1,682 pairs of MovieLens 100K that way takes minutes. The models'
structure gives the whole ``(num_users, num_items)`` matrix in well under a second; both tabs
hand their weights here as host NumPy arrays (the book's layouts: ``Dense``/``Linear`` weights
``(out, in)``), so one piece of code scores for both.

* NeuMF: :math:`\hat y_{ui} = \sigma(\mathbf{h}_g^\top(\mathbf{p}_u \odot \mathbf{q}_i) +
  \mathbf{h}_m^\top \phi(\mathbf{W}_1 [\mathbf{u}_u, \mathbf{v}_i] + \mathbf{b}_1))`, where
  the GMF term is one matrix product, :math:`(\mathbf{P} \operatorname{diag}(\mathbf{h}_g))
  \mathbf{Q}^\top`, and the first MLP layer splits into a user part and an item part,
  :math:`\mathbf{W}_1 [\mathbf{u}, \mathbf{v}] = \mathbf{W}_{1u} \mathbf{u} + \mathbf{W}_{1v}
  \mathbf{v}`; the remaining layers (ReLU, as the book's) run on the ``user x item`` rows of
  a few users at a time (:func:`neumf_score_matrix`). A NeuMF built with ``output='logit'``
  (not the book's) scores with the logit inside the sigmoid: the same order, without the
  sigmoid's rounding to 0.5 or 1.
* Caser: :math:`\hat y_{ui} = [\mathbf{z}_u, \mathbf{p}_u] \cdot \mathbf{v}_i + b_i`, with
  :math:`\mathbf{z}_u` the sequence part of the user's last ``L`` items (computed once per
  user by the tab): one matrix product (:func:`caser_score_matrix`).
* MF (the book's class, trained with the ranking loop): :math:`\hat y_{ui} = \mathbf{p}_u
  \cdot \mathbf{q}_i + b_u + b_i`, one matrix product (:func:`mf_score_matrix`).
* Popularity, a baseline that learns nothing: every user's score of an item is the number of
  training interactions it has (:func:`popularity_score_matrix`).

The sums run in another order than the book's per-pair forward passes: the scores agree with
them to float32 rounding.
"""
import numpy

__all__ = ['neumf_score_matrix', 'caser_score_matrix', 'mf_score_matrix',
           'popularity_score_matrix']


def _sigmoid(x):
    out = numpy.empty_like(x)
    positive = x >= 0
    out[positive] = 1 / (1 + numpy.exp(-x[positive]))
    e = numpy.exp(x[~positive])
    out[~positive] = e / (1 + e)
    return out


def neumf_score_matrix(P, Q, U, V, layers, h, *, user_chunk=32, output='sigmoid'):
    """NeuMF's scores of every item for every user, ``(num_users, num_items)`` float32.

    ``P``, ``Q`` (GMF) and ``U``, ``V`` (MLP): the embeddings, ``(num_users, k)`` and
    ``(num_items, k)``; ``layers``: the MLP's ``(weight (out, in), bias)`` pairs, all ReLU;
    ``h``: the prediction layer's weight, ``k + last`` values (no bias, sigmoid).
    ``user_chunk``: users whose ``user x item`` rows are in memory at once. ``output``: the
    model's prediction layer, the book's ``'sigmoid'`` or ``'logit'`` (no sigmoid).
    """
    finish = _sigmoid if output == 'sigmoid' else (lambda x: x)
    P, Q, U, V = (numpy.asarray(a, dtype=numpy.float32) for a in (P, Q, U, V))
    h = numpy.asarray(h, dtype=numpy.float32).reshape(-1)
    k = P.shape[1]
    layers = [(numpy.asarray(w, numpy.float32), numpy.asarray(b, numpy.float32))
              for w, b in layers]
    num_users, num_items = P.shape[0], Q.shape[0]
    gmf = (P * h[:k]) @ Q.T
    out = numpy.empty((num_users, num_items), dtype=numpy.float32)
    if not layers:   # no hidden layer: the MLP's output is [u_u, v_i] itself
        out[:] = gmf + (U @ h[k:2 * k])[:, None] + (V @ h[2 * k:])[None, :]
        return finish(out)
    w1, b1 = layers[0]
    user_part = U @ w1[:, :k].T + b1
    item_part = V @ w1[:, k:].T
    hm = h[k:]
    for a in range(0, num_users, user_chunk):
        x = user_part[a:a + user_chunk, None, :] + item_part[None, :, :]
        numpy.maximum(x, 0, out=x)
        x = x.reshape(-1, x.shape[2])
        for w, b in layers[1:]:
            x = x @ w.T
            x += b
            numpy.maximum(x, 0, out=x)
        out[a:a + user_chunk] = gmf[a:a + user_chunk] + (x @ hm).reshape(-1, num_items)
    return finish(out)


def caser_score_matrix(z, P, Q_prime, b):
    """Caser's scores of every item for every user, ``(num_users, num_items)`` float32:
    ``[z_u, p_u] . q'_i + b_i`` with ``z`` the users' sequence parts ``(num_users, k)``,
    ``P`` the user embeddings, ``Q_prime`` ``(num_items, 2k)`` and ``b`` the item biases."""
    x = numpy.concatenate([numpy.asarray(z, numpy.float32), numpy.asarray(P, numpy.float32)],
                          axis=1)
    return x @ numpy.asarray(Q_prime, numpy.float32).T + \
        numpy.asarray(b, numpy.float32).reshape(1, -1)


def mf_score_matrix(P, Q, user_bias, item_bias):
    """MF's scores of every item for every user, ``(num_users, num_items)`` float32:
    ``p_u . q_i + b_u + b_i`` (``user_bias``, ``item_bias``: one value per user and item)."""
    P, Q = numpy.asarray(P, numpy.float32), numpy.asarray(Q, numpy.float32)
    return (P @ Q.T + numpy.asarray(user_bias, numpy.float32).reshape(-1, 1)
            + numpy.asarray(item_bias, numpy.float32).reshape(1, -1))


def popularity_score_matrix(users, items, num_users, num_items):
    """The popularity baseline's scores, ``(num_users, num_items)`` float32: for every user,
    item ``i`` scores the number of training interactions ``(users[k], items[k])`` with
    ``items[k] == i`` (0-based ids). No learning and no personalisation: the same row for
    every user; the evaluators leave out each user's own training items."""
    users = numpy.asarray(users, dtype=numpy.int64).reshape(-1)
    items = numpy.asarray(items, dtype=numpy.int64).reshape(-1)
    if len(users) != len(items):
        raise ValueError(f'popularity_score_matrix: {len(users)} users but {len(items)} items')
    if len(items) and (items.min() < 0 or items.max() >= num_items):
        raise ValueError(f'popularity_score_matrix: item index out of range 0..{num_items - 1}')
    counts = numpy.bincount(items, minlength=num_items).astype(numpy.float32)
    return numpy.broadcast_to(counts, (int(num_users), int(num_items))).copy()
