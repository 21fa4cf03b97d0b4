r"""Sequence-aware recommendation with Caser, in the MXNet tab.

Book section: "Sequence-Aware Recommender Systems",
https://d2l.ai/chapter_recommender-systems/seqrec.html. The book's two classes,
unchanged and in its order: the model :class:`Caser` and the dataset :class:`SeqDataset`; the
section trains with ``d2l.train_ranking`` and ``d2l.evaluate_ranking``
(:mod:`d2l_recsys.mxnet.neumf`) and ``d2l.BPRLoss`` (:mod:`d2l_recsys.mxnet.ranking`). Tests
hold both classes equal to the book's cells.

Caser (:cite:`Tang.Wang.2018`) embeds user :math:`u`'s previous :math:`L` items as an
:math:`L \times k` "image" :math:`\mathbf{E}^{(u, t)}` (rows of the item embedding ``Q``),
runs ``d`` horizontal filters of every height :math:`h = 1..L` (ReLU, max-pooled over time)
and ``d_prime`` vertical filters of height :math:`L` over it, maps both through a ReLU layer
to :math:`\mathbf{z} \in \mathbb{R}^k` (dropout before it) and scores item :math:`i` with

.. math:: \hat y_{uit} = \mathbf{v}_i \cdot [\mathbf{z}, \mathbf{p}_u] + b_i

(``Q_prime`` holds :math:`\mathbf{v}_i`, ``b`` the item biases, ``P`` the users' long-term
embeddings).

:class:`SeqDataset` cuts each user's training items (by time) into windows of ``L`` items and
the item after them, latest first (``c - L`` windows for ``c > L`` items); a user with exactly
``L`` items, or one, gives one window (NumPy broadcasting), and a user with 2 to ``L - 1``
items makes it fail. ``test_seq`` holds each user's last ``L`` training items, the input when
predicting the held-out one. Each example draws a negative as ``PRDataset`` does.

The book leaves Caser's training call commented out ("Running takes > 1h"); run as printed it
completes here (:mod:`d2l_recsys.mxnet.fast_ranking` gives the same numbers in seconds).
"""
import random

from mxnet import gluon, np, npx
from mxnet.gluon import nn

from ..checks import caser_arguments

npx.set_np()

__all__ = ['Caser', 'SeqDataset']


class Caser(nn.Block):
    def __init__(self, num_factors, num_users, num_items, L=5, d=16,
                 d_prime=4, drop_ratio=0.05, **kwargs):
        super(Caser, self).__init__(**kwargs)
        caser_arguments(num_factors, num_users, num_items, L, d, d_prime, drop_ratio)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.d_prime, self.d = d_prime, d
        # Vertical convolution layer
        self.conv_v = nn.Conv2D(d_prime, (L, 1), in_channels=1)
        # Horizontal convolution layer
        h = [i + 1 for i in range(L)]
        self.conv_h, self.max_pool = nn.Sequential(), nn.Sequential()
        for i in h:
            self.conv_h.add(nn.Conv2D(d, (i, num_factors), in_channels=1))
            self.max_pool.add(nn.MaxPool1D(L - i + 1))
        # Fully connected layer
        self.fc1_dim_v, self.fc1_dim_h = d_prime * num_factors, d * len(h)
        self.fc = nn.Dense(in_units=d_prime * num_factors + d * L,
                           activation='relu', units=num_factors)
        self.Q_prime = nn.Embedding(num_items, num_factors * 2)
        self.b = nn.Embedding(num_items, 1)
        self.dropout = nn.Dropout(drop_ratio)

    def forward(self, user_id, seq, item_id):
        item_embs = np.expand_dims(self.Q(seq), 1)
        user_emb = self.P(user_id)
        out, out_h, out_v, out_hs = None, None, None, []
        if self.d_prime:
            out_v = self.conv_v(item_embs)
            out_v = out_v.reshape(out_v.shape[0], self.fc1_dim_v)
        if self.d:
            for conv, maxp in zip(self.conv_h, self.max_pool):
                conv_out = np.squeeze(npx.relu(conv(item_embs)), axis=3)
                t = maxp(conv_out)
                pool_out = np.squeeze(t, axis=2)
                out_hs.append(pool_out)
            out_h = np.concatenate(out_hs, axis=1)
        out = np.concatenate([out_v, out_h], axis=1)
        z = self.fc(self.dropout(out))
        x = np.concatenate([z, user_emb], axis=1)
        q_prime_i = np.squeeze(self.Q_prime(item_id))
        b = np.squeeze(self.b(item_id))
        res = (x * q_prime_i).sum(1) + b
        return res


class SeqDataset(gluon.data.Dataset):
    def __init__(self, user_ids, item_ids, L, num_users, num_items,
                 candidates):
        user_ids, item_ids = np.array(user_ids), np.array(item_ids)
        sort_idx = np.array(sorted(range(len(user_ids)),
                                   key=lambda k: user_ids[k]))
        u_ids, i_ids = user_ids[sort_idx], item_ids[sort_idx]
        temp, u_ids, self.cand = {}, u_ids.asnumpy(), candidates
        self.all_items = set([i for i in range(num_items)])
        [temp.setdefault(u_ids[i], []).append(i) for i, _ in enumerate(u_ids)]
        temp = sorted(temp.items(), key=lambda x: x[0])
        u_ids = np.array([i[0] for i in temp])
        idx = np.array([i[1][0] for i in temp])
        self.ns = ns = int(sum([c - L if c >= L + 1 else 1 for c
                                in np.array([len(i[1]) for i in temp])]))
        self.seq_items = np.zeros((ns, L))
        self.seq_users = np.zeros(ns, dtype='int32')
        self.seq_tgt = np.zeros((ns, 1))
        self.test_seq = np.zeros((num_users, L))
        test_users, _uid = np.empty(num_users), None
        for i, (uid, i_seq) in enumerate(self._seq(u_ids, i_ids, idx, L + 1)):
            if uid != _uid:
                self.test_seq[uid][:] = i_seq[-L:]
                test_users[uid], _uid = uid, uid
            self.seq_tgt[i][:] = i_seq[-1:]
            self.seq_items[i][:], self.seq_users[i] = i_seq[:L], uid

    def _win(self, tensor, window_size, step_size=1):
        if len(tensor) - window_size >= 0:
            for i in range(len(tensor), 0, - step_size):
                if i - window_size >= 0:
                    yield tensor[i - window_size:i]
                else:
                    break
        else:
            yield tensor

    def _seq(self, u_ids, i_ids, idx, max_len):
        for i in range(len(idx)):
            stop_idx = None if i >= len(idx) - 1 else int(idx[i + 1])
            for s in self._win(i_ids[int(idx[i]):stop_idx], max_len):
                yield (int(u_ids[i]), s)

    def __len__(self):
        return self.ns

    def __getitem__(self, idx):
        neg = list(self.all_items - set(self.cand[int(self.seq_users[idx])]))
        i = random.randint(0, len(neg) - 1)
        return (self.seq_users[idx], self.seq_items[idx], self.seq_tgt[idx],
                neg[i])
