r"""Sequence-aware recommendation with Caser, in PyTorch.

Book section: "Sequence-Aware Recommender Systems",
https://d2l.ai/chapter_recommender-systems/seqrec.html. The MXNet tab's
:mod:`d2l_recsys.mxnet.seqrec` translated, under the same names: :class:`Caser`, the same
architecture with the same parameter names and shapes (``P``, ``Q``, ``conv_v``, ``conv_h.0``
.. ``conv_h.{L-1}``, ``fc``, ``Q_prime``, ``b``; ``Conv2d`` and ``Linear`` weights laid out as
Gluon's ``Conv2D`` and ``Dense``), so one set of weights fits both frameworks, initialised as
the book's (weights from :math:`\mathcal{N}(0, 0.01^2)`, biases zero); and :class:`SeqDataset`,
the book's windows (:func:`d2l_recsys.rank_data.seq_windows`, element for element the book's
``SeqDataset`` arrays, as int64 indices for PyTorch's embeddings) with the book's negative
sampling per example. Caser trains with :func:`d2l_recsys.torch.neumf.train_ranking` and
:func:`~d2l_recsys.torch.neumf.evaluate_ranking` and
:class:`~d2l_recsys.torch.ranking.BPRLoss`.
"""
import random

import numpy as onp
import torch
from torch import nn

from ..checks import caser_arguments, caser_convolutions
from ..rank_data import seq_windows
from .neumf import Dense, init_book

__all__ = ['Caser', 'SeqDataset']


class Caser(nn.Module):
    """Caser (the book's block): ``forward(user_id, seq, item_id)`` scores item ``item_id``
    for user ``user_id`` after the ``L`` items ``seq`` (int64 indices).

    ``horizontal=False`` or ``vertical=False`` (keyword only; the defaults are the book's
    model) leaves that convolution out, and the fully connected layer takes the other's
    outputs alone: the section's ablation. (``d=0`` or ``d_prime=0`` cannot do it: the
    book's forward concatenates both convolutions' outputs.)"""
    def __init__(self, num_factors, num_users, num_items, L=5, d=16,
                 d_prime=4, drop_ratio=0.05, *, horizontal=True, vertical=True, **kwargs):
        super(Caser, self).__init__(**kwargs)
        caser_arguments(num_factors, num_users, num_items, L, d, d_prime, drop_ratio)
        horizontal, vertical = caser_convolutions(horizontal, vertical)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.d_prime, self.d = d_prime, d
        # Vertical convolution layer
        self.conv_v = nn.Conv2d(1, d_prime, (L, 1)) if vertical else None
        # Horizontal convolution layer
        h = [i + 1 for i in range(L)] if horizontal else []
        self.conv_h, self.max_pool = nn.ModuleList(), nn.ModuleList()
        for i in h:
            self.conv_h.append(nn.Conv2d(1, d, (i, num_factors)))
            self.max_pool.append(nn.MaxPool1d(L - i + 1))
        # Fully connected layer
        self.fc1_dim_v = d_prime * num_factors if vertical else 0
        self.fc1_dim_h = d * len(h)
        self.fc = Dense(self.fc1_dim_v + self.fc1_dim_h, num_factors, activation='relu')
        self.Q_prime = nn.Embedding(num_items, num_factors * 2)
        self.b = nn.Embedding(num_items, 1)
        self.dropout = nn.Dropout(drop_ratio)
        init_book(self)

    def features(self, seq):
        """The convolutions' outputs ``[vertical, horizontal]`` of the windows ``seq`` (the
        book's ``out``, before the dropout; one of them alone in an ablation)."""
        item_embs = torch.unsqueeze(self.Q(seq), 1)
        outs = []
        if self.conv_v is not None:
            out_v = self.conv_v(item_embs)
            outs.append(out_v.reshape(out_v.shape[0], self.fc1_dim_v))
        out_hs = []
        for conv, maxp in zip(self.conv_h, self.max_pool):
            conv_out = torch.squeeze(torch.relu(conv(item_embs)), dim=3)
            t = maxp(conv_out)
            pool_out = torch.squeeze(t, dim=2)
            out_hs.append(pool_out)
        if out_hs:
            outs.append(torch.cat(out_hs, dim=1))
        return torch.cat(outs, dim=1)

    def score(self, z, user_id, item_id):
        """``[z, p_u] . q'_i + b_i``, elementwise as the book writes it."""
        x = torch.cat([z, self.P(user_id)], dim=1)
        q_prime_i = torch.squeeze(self.Q_prime(item_id))
        b = torch.squeeze(self.b(item_id))
        return (x * q_prime_i).sum(1) + b

    def forward(self, user_id, seq, item_id):
        z = self.fc(self.dropout(self.features(seq)))
        return self.score(z, user_id, item_id)


class SeqDataset(torch.utils.data.Dataset):
    """The book's sequence dataset: example ``idx`` is ``(user, L previous items, next item,
    negative item)``; ``test_seq`` holds each user's last ``L`` training items. The arrays
    are the book's (:func:`d2l_recsys.rank_data.seq_windows`), as int64; the negative is
    drawn as the book's ``__getitem__`` draws it."""
    def __init__(self, user_ids, item_ids, L, num_users, num_items,
                 candidates):
        windows = seq_windows(user_ids, item_ids, L, num_users)
        self.cand = candidates
        self.all_items = set([i for i in range(num_items)])
        self.ns = len(windows)
        self.seq_users = windows.users.astype(onp.int64)
        self.seq_items = windows.items.astype(onp.int64)
        self.seq_tgt = windows.targets.astype(onp.int64)
        self.test_seq = windows.test_seq.astype(onp.int64)

    def __len__(self):
        return self.ns

    def __getitem__(self, idx):
        neg = list(self.all_items - set(self.cand[int(self.seq_users[idx])]))
        i = random.randint(0, len(neg) - 1)
        return (self.seq_users[idx], self.seq_items[idx], self.seq_tgt[idx],
                neg[i])
