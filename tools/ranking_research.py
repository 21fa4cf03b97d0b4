r"""Ranking research for the book's NeuMF and Caser on MovieLens 100K, on the exact protocol.

    python tools/ranking_research.py                      # everything (hours on 2 cores)
    python tools/ranking_research.py --part baselines     # popularity, co-occurrence (seconds)
    python tools/ranking_research.py --part collapse      # why the book's NeuMF cell does not learn
    python tools/ranking_research.py --part search        # every point tried, on validation
    python tools/ranking_research.py --part final    # the final table (docs/ranking-presets.md)
    python tools/ranking_research.py --part collapse --mxnet        # the book's MXNet cell too

PyTorch and NumPy; ML-100K is read and split by d2l_recsys's data layer (the book's seq-aware
split: each user's latest rating is the test item, the rest, time-ordered, is training).
Results go to ``--out`` (``results/ranking_research``) as JSON lines, and tables are printed.

**The exact protocol.** Every item the user has not trained on is a candidate (the held-out
item among them); the held-out item's position counts ties at their expectation under a
uniformly random order: with ``g`` candidates scored higher and ``e`` others tied with it, the
position is ``1 + g + U``, ``U`` uniform on ``0..e``; HR@k = P(position <= k), NDCG@k =
E[1/log2(1 + position)] over positions <= k, and AUC = (#lower + e/2) / #negatives. A model that
scores every item alike gets HR@10 = 10/#candidates (0.006) and AUC 0.5, whatever the item
order; the book's ``evaluate_ranking`` instead ranks ties by item id, ranks only items
``0..num_users-1`` and counts hits at 50.

**Validation.** The same split applied to the training part: each user's second-latest item is
held out, the model trains on the rest. Every choice below (settings, epochs) was made on it;
test items were never looked at while choosing. Final models are retrained on the whole
training split for the epochs chosen on validation, and evaluated on the test items, on seeds
0-4 and on seeds 5-9 (used in no choice).

**Models.** ``NeuMF`` and ``Caser`` are the book's architectures (the same layers, the book's
Normal(0.01) initialisation with zero biases, the book's defaults); each change from the book's
cell is a keyword argument or a training option, named in ``PRESETS``. ``MXAdam`` is MXNet
1.9's Adam as Gluon's ``Trainer`` applies it (weight decay added to the gradient, bias
correction folded into the learning rate), so that the book's runs are reproduced, collapse
included. Caser's convolutions are computed as matrix products over the windows (the same
arithmetic as ``Conv2d``, checked against it at start-up, several times faster on CPU).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from d2l_recsys import data as D  # noqa: E402

K = 10   # HR@10, NDCG@10


# ---------------------------------------------------------------------------------------------
# Data: the book's seq-aware split, and the validation split cut from its training part
# ---------------------------------------------------------------------------------------------

def load(stage='test', data_dir=None):
    """``stage='test'``: the book's training split and each user's test item; ``'val'``: that
    training split split again the same way (second-latest item held out). Returns a dict:
    ``seqs`` (per user, training item indices in time order), ``seen`` (bool, users x items),
    ``target`` (held-out item per user), ``nu``, ``ni``."""
    df, nu, ni = D.read_data_ml100k(data_dir)
    train, test = D.split_data_ml100k_fast(df, nu, ni, 'seq-aware')
    if stage == 'val':
        train, test = D.split_data_ml100k_fast(train, nu, ni, 'seq-aware')
    u = train.iloc[:, 0].to_numpy() - 1
    i = train.iloc[:, 1].to_numpy() - 1
    seqs = [[] for _ in range(nu)]
    for a, b in zip(u, i):          # training rows are time-ordered within each user
        seqs[a].append(int(b))
    target = np.zeros(nu, dtype=np.int64)
    target[test.iloc[:, 0].to_numpy() - 1] = test.iloc[:, 1].to_numpy() - 1
    seen = np.zeros((nu, ni), dtype=bool)
    for a, s in enumerate(seqs):
        seen[a, s] = True
    return dict(seqs=seqs, seen=seen, target=target, nu=nu, ni=ni, stage=stage)


# ---------------------------------------------------------------------------------------------
# The exact evaluator
# ---------------------------------------------------------------------------------------------

def exact_metrics(scores, seen, target, k=K):
    """HR@k, NDCG@k and AUC of ``scores`` (users x items) for one held-out item per user,
    candidates = items not ``seen``, ties at their expectation (see the module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    nu = scores.shape[0]
    s_t = scores[np.arange(nu), target][:, None]
    cand = ~seen
    if not cand[np.arange(nu), target].all():
        raise ValueError('a held-out item is among its user\'s training items')
    g = ((scores > s_t) & cand).sum(1)
    e = ((scores == s_t) & cand).sum(1) - 1
    n_neg = cand.sum(1) - 1
    hr = np.clip(k - g, 0, e + 1) / (e + 1)
    r = np.arange(1, k + 1)[None, :]
    inside = (r >= g[:, None] + 1) & (r <= (g + e + 1)[:, None])
    ndcg = (inside / np.log2(1 + r)).sum(1) / (e + 1)
    auc = (n_neg - g - e + 0.5 * e) / n_neg
    return {'HR@10': float(hr.mean()), 'NDCG@10': float(ndcg.mean()), 'AUC': float(auc.mean())}


# ---------------------------------------------------------------------------------------------
# Baselines (no learning): the evaluator's sanity check
# ---------------------------------------------------------------------------------------------

def popularity(seqs, ni):
    c = np.zeros(ni)
    for s in seqs:
        np.add.at(c, s, 1)
    return c


def cooccurrence_scores(seqs, ni, last=5, window=5, pop_weight=0.):
    """Score items by how often they followed the user's ``last`` training items within
    ``window`` steps in the training histories (plus ``pop_weight`` x popularity)."""
    C = np.zeros((ni, ni))
    for s in seqs:
        s = np.asarray(s)
        for d in range(1, window + 1):
            np.add.at(C, (s[:-d], s[d:]), 1)
    S = np.stack([C[s[-last:]].sum(0) for s in seqs])
    return S + pop_weight * popularity(seqs, ni)[None, :]


BASELINES = {
    'popularity': lambda d: np.tile(popularity(d['seqs'], d['ni']), (d['nu'], 1)),
    'co-occurrence, last 5 items, window 5': lambda d: cooccurrence_scores(d['seqs'], d['ni']),
    'co-occurrence, last 10 items, window 5, + 0.01 popularity':
        lambda d: cooccurrence_scores(d['seqs'], d['ni'], 10, 5, 0.01),
}


# ---------------------------------------------------------------------------------------------
# Models: the book's NeuMF and Caser, with the options the presets change
# ---------------------------------------------------------------------------------------------

def normal_init(module, sigma):
    """MXNet's ``net.initialize(init=Normal(sigma))``: weights Normal(sigma), biases zero
    (Gluon's Dense and Conv2D keep their own zero bias initialiser)."""
    for name, p in module.named_parameters():
        if name.endswith('bias'):
            nn.init.zeros_(p)
        else:
            nn.init.normal_(p, 0, sigma)


class NeuMF(nn.Module):
    """The book's NeuMF: GMF (P, Q) and an MLP (U, V, ReLU layers ``nums_hiddens``)
    concatenated into a prediction layer without bias. ``output='sigmoid'`` is the book's
    (``nn.Dense(1, activation='sigmoid', use_bias=False)``); ``'logit'`` drops the sigmoid."""

    def __init__(self, num_factors, num_users, num_items, nums_hiddens, output='sigmoid',
                 sigma=0.01):
        super().__init__()
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        layers, n_in = [], 2 * num_factors
        for h in nums_hiddens:
            layers += [nn.Linear(n_in, h), nn.ReLU()]
            n_in = h
        self.mlp = nn.Sequential(*layers)
        self.prediction_layer = nn.Linear(num_factors + n_in, 1, bias=False)
        self.output = output
        normal_init(self, sigma)

    def features(self, u, i):
        gmf = self.P(u) * self.Q(i)
        return torch.cat([gmf, self.mlp(torch.cat([self.U(u), self.V(i)], 1))], 1)

    def logit(self, u, i):
        return self.prediction_layer(self.features(u, i)).squeeze(1)

    def forward(self, u, i):
        z = self.logit(u, i)
        return torch.sigmoid(z) if self.output == 'sigmoid' else z

    def score_all(self, data, logits=False):
        items = torch.arange(data['ni'])
        f = self.logit if logits else self
        return torch.stack([f(torch.full((data['ni'],), u), items) for u in range(data['nu'])])


class Caser(nn.Module):
    """The book's Caser: a vertical convolution (``d_prime`` filters of L x 1) and horizontal
    ones (``d`` filters of h x k for h = 1..L, ReLU, max-pooled) over the embeddings of the
    last L items, dropout, a dense layer to k units (ReLU), concatenated with the user's
    embedding, scored against ``Q_prime`` plus an item bias ``b``."""

    def __init__(self, num_factors, num_users, num_items, L=5, d=16, d_prime=4,
                 drop_ratio=0.05, sigma=0.01):
        super().__init__()
        k = num_factors
        self.P = nn.Embedding(num_users, k)
        self.Q = nn.Embedding(num_items, k)
        self.L, self.d, self.d_prime = L, d, d_prime
        self.conv_v = nn.Conv2d(1, d_prime, (L, 1))
        self.conv_h = nn.ModuleList([nn.Conv2d(1, d, (h, k)) for h in range(1, L + 1)])
        self.fc = nn.Linear(d_prime * k + d * L, k)
        self.Q_prime = nn.Embedding(num_items, 2 * k)
        self.b = nn.Embedding(num_items, 1)
        self.dropout = nn.Dropout(drop_ratio)
        normal_init(self, sigma)

    def conv_features(self, e):
        """The convolutions of the book's forward on item embeddings ``e`` (B, L, k), written
        as matrix products over the windows."""
        B = e.shape[0]
        w = self.conv_v.weight.reshape(self.d_prime, self.L)
        outs = [(torch.einsum('blk,cl->bck', e, w)
                 + self.conv_v.bias[None, :, None]).reshape(B, -1)]
        for h, conv in enumerate(self.conv_h, start=1):
            win = e.unfold(1, h, 1).transpose(2, 3).reshape(B, self.L - h + 1, -1)
            c = F.relu(F.linear(win, conv.weight.reshape(self.d, -1), conv.bias))
            outs.append(c.max(1).values)
        return torch.cat(outs, 1)

    def conv_features_reference(self, e):
        """The same with ``Conv2d`` and max-pooling, as the book's forward does."""
        e = e.unsqueeze(1)
        outs = [self.conv_v(e).reshape(e.shape[0], -1)]
        outs += [F.relu(conv(e)).squeeze(3).max(2).values for conv in self.conv_h]
        return torch.cat(outs, 1)

    def user_repr(self, u, seq):
        z = F.relu(self.fc(self.dropout(self.conv_features(self.Q(seq)))))
        return torch.cat([z, self.P(u)], 1)

    def score(self, x, items):
        """Scores of representations ``x`` (B, 2k) for ``items`` (B,) or (B, m)."""
        q, b = self.Q_prime(items), self.b(items).squeeze(-1)
        if items.dim() == 1:
            return (x * q).sum(1) + b
        return torch.einsum('bk,bmk->bm', x, q) + b

    def score_every_item(self, x):
        return x @ self.Q_prime.weight.T + self.b.weight.T

    def forward(self, u, seq, i):
        return self.score(self.user_repr(u, seq), i)

    def score_all(self, data, logits=False):
        users = torch.arange(data['nu'])
        seqs = torch.as_tensor(np.array([s[-self.L:] for s in data['seqs']]))
        return self.score_every_item(self.user_repr(users, seqs))


class MXAdam(torch.optim.Optimizer):
    """MXNet 1.9's Adam under Gluon's Trainer: ``g = grad + wd * w`` (weight decay coupled to
    the gradient, every parameter, biases included), ``m, v`` moving averages of ``g`` and
    ``g**2``, and ``w -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``."""

    def __init__(self, params, lr=1e-3, wd=0., beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, dict(lr=lr, wd=wd, beta1=beta1, beta2=beta2, eps=eps))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g['params']:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                st['t'] += 1
                grad = p.grad + g['wd'] * p
                st['m'].mul_(g['beta1']).add_(grad, alpha=1 - g['beta1'])
                st['v'].mul_(g['beta2']).addcmul_(grad, grad, value=1 - g['beta2'])
                lr = g['lr'] * math.sqrt(1 - g['beta2'] ** st['t']) / (1 - g['beta1'] ** st['t'])
                p.sub_(lr * st['m'] / (st['v'].sqrt() + g['eps']))


# ---------------------------------------------------------------------------------------------
# Training: the book's train_ranking, with the options the presets change
# ---------------------------------------------------------------------------------------------

def sample_negatives(users, seen, n, rng):
    """``n`` items per row, uniform over the items the row's user has not trained on (the
    book's ``PRDataset``/``SeqDataset`` draw)."""
    ni = seen.shape[1]
    neg = rng.integers(0, ni, size=(len(users), n))
    bad = seen[users[:, None], neg]
    while bad.any():
        neg[bad] = rng.integers(0, ni, size=int(bad.sum()))
        bad = seen[users[:, None], neg]
    return neg


def windows(seqs, L):
    """The book's ``SeqDataset``: (user, the L items before, the next item) at every position
    of every user's training sequence."""
    us, ss, ts = [], [], []
    for u, s in enumerate(seqs):
        for t in range(L, len(s)):
            us.append(u)
            ss.append(s[t - L:t])
            ts.append(s[t])
    return np.array(us), np.array(ss), np.array(ts)


def ranking_loss(kind, pos, neg=None, logits=None, target=None):
    """``'bpr'``: the book's BPR, -log sigmoid(pos - neg) (averaged over the batch and the
    negatives); ``'bce'``: binary cross-entropy, the positive labelled 1 and each sampled
    negative 0; ``'softmax'``: cross-entropy of the positive among all items' scores."""
    if kind == 'bpr':
        return -F.logsigmoid(pos[:, None] - neg).mean()
    if kind == 'bce':
        return (F.softplus(-pos) + F.softplus(neg).sum(1)).mean()
    if kind == 'softmax':
        return F.cross_entropy(logits, target)
    raise ValueError(f'unknown loss {kind!r}')


def evaluate(net, data, logits=False):
    net.eval()
    with torch.no_grad():
        S = net.score_all(data, logits=logits).double().numpy()
    net.train()
    return exact_metrics(S, data['seen'], data['target'])


def train(net, data, *, loss='bpr', num_neg=1, lr=0.01, wd=1e-5, optimizer='mxadam',
          batch_size=1024, epochs=10, seed=0, early_stop=None, hook=None, epoch_hook=None,
          eval_every=1):
    """Train ``net`` (NeuMF on (user, item) pairs, Caser on the book's windows) and evaluate
    on ``data``'s held-out items after every ``eval_every`` epochs. ``early_stop``: patience
    in epochs on HR@10 (validation only); the best epoch's parameters are restored.
    ``optimizer``: ``'mxadam'`` (the book's), ``'adamw'`` (weight decay decoupled from the
    gradient). Returns (history, metrics of the kept epoch, kept epoch, seconds)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    seqs, seen = data['seqs'], data['seen']
    is_caser = isinstance(net, Caser)
    if is_caser:
        U, S, T = windows(seqs, net.L)
    else:
        U = np.concatenate([np.full(len(s), u) for u, s in enumerate(seqs)])
        T = np.concatenate([np.asarray(s) for s in seqs])
    opt = (MXAdam(net.parameters(), lr=lr, wd=wd) if optimizer == 'mxadam' else
           torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd))
    hist, best, best_ep, best_state, bad = [], None, 0, None, 0
    t0 = time.time()
    for ep in range(epochs):
        perm, total = rng.permutation(len(U)), 0.
        for step, start in enumerate(range(0, len(U), batch_size)):
            idx = perm[start:start + batch_size]
            u, t = torch.as_tensor(U[idx]), torch.as_tensor(T[idx])
            if loss != 'softmax':
                neg = torch.as_tensor(sample_negatives(U[idx], seen, num_neg, rng))
            if is_caser:
                x = net.user_repr(u, torch.as_tensor(S[idx]))
                if loss == 'softmax':
                    lv = ranking_loss('softmax', None, logits=net.score_every_item(x), target=t)
                else:
                    lv = ranking_loss(loss, net.score(x, t), net.score(x, neg))
            else:
                if loss == 'softmax':
                    raise ValueError('NeuMF trains with bpr or bce here')
                negs = net(u.repeat_interleave(num_neg), neg.reshape(-1)).reshape(-1, num_neg)
                lv = ranking_loss(loss, net(u, t), negs)
            opt.zero_grad()
            lv.backward()
            if hook is not None:
                hook(net, opt, ep, step)
            opt.step()
            total += lv.item() * len(idx)
        rec = {'epoch': ep + 1, 'loss': total / len(U), 'seconds': time.time() - t0}
        if (ep + 1) % eval_every == 0 or ep + 1 == epochs:
            rec.update(evaluate(net, data))
            if epoch_hook is not None:
                epoch_hook(net, rec)
            if early_stop is not None:
                if best is None or rec['HR@10'] > best['HR@10']:
                    best, best_ep, bad = rec, ep + 1, 0
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                else:
                    bad += 1
        hist.append(rec)
        if early_stop is not None and bad >= early_stop:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
        return hist, best, best_ep, time.time() - t0
    return hist, hist[-1], len(hist), time.time() - t0


# ---------------------------------------------------------------------------------------------
# Settings: the book's cells, the presets, and every point of the search
# ---------------------------------------------------------------------------------------------

MODEL_KEYS = {'neumf': ('num_factors', 'nums_hiddens', 'output', 'sigma'),
              'caser': ('num_factors', 'L', 'd', 'd_prime', 'drop_ratio', 'sigma')}

BOOK = {
    # neumf.md: NeuMF(10, ..., nums_hiddens=[10, 10, 10]), Normal(0.01), Adam lr 0.01, wd 1e-5,
    # BPRLoss, batch 1024, 10 epochs.
    'neumf': dict(num_factors=10, nums_hiddens=[10, 10, 10], output='sigmoid', sigma=0.01,
                  loss='bpr', num_neg=1, lr=0.01, wd=1e-5, optimizer='mxadam',
                  batch_size=1024, epochs=10),
    # seqrec.md: Caser(10, ..., L=5) (d=16, d_prime=4, drop_ratio=0.05), Normal(0.01), Adam
    # lr 0.04, wd 1e-5, BPRLoss, batch 4096, 8 epochs.
    'caser': dict(num_factors=10, L=5, d=16, d_prime=4, drop_ratio=0.05, sigma=0.01,
                  loss='bpr', num_neg=1, lr=0.04, wd=1e-5, optimizer='mxadam',
                  batch_size=4096, epochs=8),
}

# Each preset: the changes from the book's cell (everything else is the book's), chosen on
# validation (see SEARCH and docs/ranking-presets.md). 'epochs' is the early-stopped epoch
# count found on validation, used as is when retraining on the whole training split.
PRESETS = {
    'neumf': {
        'output': 'logit',     # the prediction layer without its sigmoid
        'wd': 0.,              # no weight decay (what makes the book's cell learn)
        'epochs': 9,           # early-stopped on validation HR@10 (patience 3)
    },
    'caser': {
        'loss': 'softmax',     # cross-entropy over all items' scores instead of BPR
        'num_factors': 50,     # 10 in the book
        'drop_ratio': 0.5,     # 0.05 in the book
        'lr': 0.001,           # 0.04 in the book
        'wd': 1e-6,            # 1e-5 in the book
        'batch_size': 512,     # 4096 in the book
        'epochs': 16,          # early-stopped on validation HR@10: 19 (seed 0), 12 (seed 1)
    },
    # A cheaper second choice (the book's size and optimiser): about half the preset's time.
    'caser_fast': {
        'loss': 'softmax',
        'drop_ratio': 0.3,
        'epochs': 14,          # early-stopped on validation HR@10: 17 (seed 0), 11 (seed 1)
    },
}

# Every point tried on validation: name -> (model, changes from the book's cell, seeds).
# 'early_stop' is the patience on validation HR@10, 'epochs' then the most epochs run.
ES_N = {'epochs': 20, 'early_stop': 3}
ES_C = {'epochs': 40, 'early_stop': 5}
SM = {'loss': 'softmax', **ES_C}
SEARCH = {
    'neumf, wd 0': ('neumf', {'wd': 0., **ES_N}, [0]),
    'neumf, wd 0, logits': ('neumf', {'wd': 0., 'output': 'logit', **ES_N}, [0]),
    'neumf, wd 0, logits, BCE 4 negatives': (
        'neumf', {'wd': 0., 'output': 'logit', 'loss': 'bce', 'num_neg': 4, **ES_N}, [0]),
    'neumf, NCF paper-like': (
        'neumf', {'num_factors': 32, 'nums_hiddens': [32, 16, 8], 'output': 'logit',
                  'loss': 'bce', 'num_neg': 4, 'lr': 0.001, 'wd': 0., **ES_N}, [0]),
    "caser, the book's cell": ('caser', {}, [0]),
    "caser, the book's cell, wd 0": ('caser', {'wd': 0.}, [0]),
    'caser, early stopping': ('caser', dict(ES_C), [0]),
    'caser, softmax': ('caser', dict(SM), [0, 1]),
    'caser, softmax, k 20': ('caser', {**SM, 'num_factors': 20}, [0, 1]),
    'caser, softmax, dropout 0.3': ('caser', {**SM, 'drop_ratio': 0.3}, [0, 1]),
    'caser, softmax, k 20, dropout 0.3': (
        'caser', {**SM, 'num_factors': 20, 'drop_ratio': 0.3}, [0, 1]),
    'caser, softmax, L 8': ('caser', {**SM, 'L': 8}, [0]),
    'caser, softmax, lr 0.01': ('caser', {**SM, 'lr': 0.01}, [0]),
    'caser, softmax, wd 0': ('caser', {**SM, 'wd': 0.}, [0]),
    'caser, softmax, k 50, dropout 0.5': (
        'caser', {**SM, 'num_factors': 50, 'drop_ratio': 0.5}, [0]),
    'caser, Caser paper-like (BCE 3 negatives)': (
        'caser', {'num_factors': 50, 'drop_ratio': 0.5, 'loss': 'bce', 'num_neg': 3,
                  'lr': 0.001, 'wd': 1e-6, 'batch_size': 512, **ES_C}, [0]),
    'caser, softmax, paper-like': (
        'caser', {**SM, 'num_factors': 50, 'drop_ratio': 0.5, 'lr': 0.001, 'wd': 1e-6,
                  'batch_size': 512}, [0, 1]),
}


def build(model, cfg, data):
    c = {**BOOK[model], **cfg}
    mk = {k: c.pop(k) for k in MODEL_KEYS[model]}
    cls = NeuMF if model == 'neumf' else Caser
    net = cls(mk.pop('num_factors'), data['nu'], data['ni'], **mk)
    return net, c


def run(model, cfg, data, seed=0, **kw):
    cfg = dict(cfg)
    es = cfg.pop('early_stop', None)
    torch.manual_seed(seed)
    net, tc = build(model, cfg, data)
    hist, m, ep, sec = train(net, data, seed=seed, early_stop=es, **tc, **kw)
    return net, hist, m, ep, sec


# ---------------------------------------------------------------------------------------------
# The book's evaluate_ranking, for comparison with the exact numbers
# ---------------------------------------------------------------------------------------------

def book_metrics(scores, data):
    """What the book's ``evaluate_ranking``/``hit_and_auc`` print for these scores: only items
    ``0..num_users-1`` not trained on are ranked (ascending id, then a stable sort on the score,
    so ties keep id order), a hit is the test item in the top 50, and AUC is 0 for a user whose
    test item is not among the ranked items."""
    hits, aucs = [], []
    for u in range(data['nu']):
        cand = np.array(sorted(set(range(data['nu'])) - set(data['seqs'][u])))
        ranked = cand[np.argsort(-scores[u, cand], kind='stable')]
        where = np.flatnonzero(ranked == data['target'][u])
        hits.append(int(len(where) > 0 and where[0] < 50))
        aucs.append((len(ranked) - 1 - where[0]) / (len(ranked) - 1) if len(where) else 0.)
    return {'book hit rate (@50)': float(np.mean(hits)), 'book AUC': float(np.mean(aucs))}


# ---------------------------------------------------------------------------------------------
# Parts
# ---------------------------------------------------------------------------------------------

def fmt(m, keys=('HR@10', 'NDCG@10', 'AUC')):
    return ' '.join(f'{k} {m[k]:.4f}' for k in keys if k in m)


def part_baselines(args, out):
    print('\n## Baselines (no learning), exact protocol')
    print('| baseline | split | HR@10 | NDCG@10 | AUC |\n|---|---|---|---|---|')
    for stage in ('val', 'test'):
        data = load(stage, args.data)
        for name, f in BASELINES.items():
            m = exact_metrics(f(data), data['seen'], data['target'])
            print(f"| {name} | {stage} | {m['HR@10']:.4f} | {m['NDCG@10']:.4f} | {m['AUC']:.4f} |")
            out({'part': 'baselines', 'name': name, 'stage': stage, **m})


def part_collapse(args, out):
    """The book's NeuMF cell (PyTorch, MXNet's Adam), seed 0, with the evidence."""
    print('\n## The book\'s NeuMF cell: why it does not learn')
    data = load('test', args.data)
    wd = BOOK['neumf']['wd']
    torch.manual_seed(0)

    def hook(net, opt, ep, step):
        if ep == 0 and step in (0, 1, 2, 5, 10, 30, 60, 96):
            rows = []
            for name, p in net.named_parameters():
                g, w = p.grad.abs(), wd * p.detach().abs()
                rows.append((name, float(g.max()), float(w.max()), float((w > g).float().mean())))
            print(f'  epoch 1, step {step}: per parameter, max|gradient| / max|wd * w| / '
                  f'share of entries where |wd * w| > |gradient|')
            print('    ' + '; '.join(f'{n} {g:.1e}/{w:.1e}/{s:.2f}' for n, g, w, s in rows))
            out({'part': 'collapse', 'what': 'gradients', 'step': step,
                 'rows': [dict(zip(('param', 'max_grad', 'max_wd_w', 'share_wd_dominates'), r))
                          for r in rows]})

    def epoch_hook(net, rec):
        net.eval()
        with torch.no_grad():
            z = net.score_all(data, logits=True).double().numpy()
            s = net.score_all(data).numpy()
            h = net.mlp(torch.cat([net.U.weight[:, None, :].expand(-1, 50, -1).reshape(-1, 10),
                                   net.V.weight[:50].repeat(data['nu'], 1)], 1)).numpy()
        net.train()
        norms = {n: float(p.detach().norm()) for n, p in net.named_parameters()}
        ev = {'epoch': rec['epoch'], 'loss': rec['loss'], 'max|logit|': float(np.abs(z).max()),
              'logit std over (user, item)': float(z.std()),
              'share of scores == 0.5': float((s == 0.5).mean()),
              'distinct scores': int(len(np.unique(s))),
              'MLP units alive': int((h > 0).any(0).sum()),
              'exact (scores)': exact_metrics(s, data['seen'], data['target']),
              'exact (float64 logits)': exact_metrics(z, data['seen'], data['target']),
              'book': book_metrics(s, data), 'norms': norms}
        print(f"  epoch {rec['epoch']}: loss {rec['loss']:.5f}, max|logit| {ev['max|logit|']:.2e}, "
              f"logit std {ev['logit std over (user, item)']:.1e}, scores == 0.5: "
              f"{ev['share of scores == 0.5']:.3f} ({ev['distinct scores']} distinct), MLP "
              f"output units alive {ev['MLP units alive']}/10; exact {fmt(ev['exact (scores)'])}; "
              f"on float64 logits {fmt(ev['exact (float64 logits)'])}; book's evaluator "
              f"{ev['book']['book hit rate (@50)']:.3f}/{ev['book']['book AUC']:.3f}")
        print('    parameter norms: ' + ' '.join(f'{n} {v:.2e}' for n, v in norms.items()))
        out({'part': 'collapse', 'what': 'epoch', **ev})

    net, _ = build('neumf', {}, data)
    print('  at initialisation:', fmt(evaluate(net, data)), '| norms:',
          ' '.join(f'{n} {float(p.detach().norm()):.2e}' for n, p in net.named_parameters()))
    cfg = {k: v for k, v in BOOK['neumf'].items() if k not in MODEL_KEYS['neumf']}
    train(net, data, seed=0, hook=hook, epoch_hook=epoch_hook, **cfg)

    print('\n  One change from the book\'s cell, on validation (seed 0, 10 epochs): '
          'HR@10/AUC per epoch')
    vdata = load('val', args.data)
    for name, change in COLLAPSE_FIXES.items():
        _, hist, m, ep, sec = run('neumf', change, vdata, seed=0)
        print(f'  {name:38s} ' + ' '.join(f"{h['HR@10']:.3f}/{h['AUC']:.3f}" for h in hist)
              + f'  ({sec:.0f} s)')
        out({'part': 'collapse', 'what': 'fix', 'name': name, 'change': change, 'hist': hist})


COLLAPSE_FIXES = {
    "the book's cell": {},
    'wd 0 (the fix)': {'wd': 0.},
    'wd 1e-6': {'wd': 1e-6},
    'wd 1e-7': {'wd': 1e-7},
    'decoupled wd 1e-5 (AdamW)': {'optimizer': 'adamw'},
    'no sigmoid on the output (logits)': {'output': 'logit'},
    'init Normal(0.1)': {'sigma': 0.1},
}


def part_search(args, out):
    print('\n## The search, on validation (each point: the changes from the book\'s cell)')
    print('| model | point | seed | changes | best epoch | HR@10 | NDCG@10 | AUC | seconds |')
    print('|---|---|---|---|---|---|---|---|---|')
    data = load('val', args.data)
    for name, (model, change, seeds) in SEARCH.items():
        for seed in seeds:
            _, hist, m, ep, sec = run(model, change, data, seed=seed)
            print(f"| {model} | {name} | {seed} | {json.dumps(change)} | {ep} | {m['HR@10']:.4f} | "
                  f"{m['NDCG@10']:.4f} | {m['AUC']:.4f} | {sec:.0f} |", flush=True)
            out({'part': 'search', 'model': model, 'name': name, 'seed': seed, 'change': change,
                 'best_epoch': ep, 'hist': hist, **m})


def parse_seeds(text):
    groups = []
    for part in text.split(','):
        a, _, b = part.partition('-')
        groups.append(list(range(int(a), int(b or a) + 1)))
    return groups


def part_final(args, out):
    print('\n## Final: the book\'s settings and the presets (fixed epochs), per seed')
    configs = [('neumf', "book's cell", {}), ('neumf', 'preset', PRESETS['neumf']),
               ('caser', "book's cell", {}), ('caser', 'preset', PRESETS['caser']),
               ('caser', 'fast preset', PRESETS['caser_fast'])]
    if args.configs:
        wanted = args.configs.split(',')
        configs = [c for c in configs if c[0] in wanted or f'{c[0]}:{c[1]}' in wanted]
    stages = [('val', parse_seeds(args.val_seeds))] if args.val_seeds else []
    stages += [('test', parse_seeds(args.seeds))] if args.seeds else []
    for stage, groups in stages:
        data = load(stage, args.data)
        for model, label, change in configs:
            change = {k: v for k, v in change.items() if k != 'early_stop'}
            for seeds in groups:
                ms = []
                for seed in seeds:
                    _, hist, m, ep, sec = run(model, change, data, seed=seed)
                    ms.append(m)
                    print(f'  {model} {label} {stage} seed {seed}: {fmt(m)} ({ep} epochs, '
                          f'{sec:.0f} s)', flush=True)
                    out({'part': 'final', 'model': model, 'label': label, 'change': change,
                         'stage': stage, 'seed': seed, 'epochs': ep, 'seconds': sec, **m})
                mean = {k: float(np.mean([m[k] for m in ms])) for k in ('HR@10', 'NDCG@10', 'AUC')}
                std = {k: float(np.std([m[k] for m in ms], ddof=1)) if len(ms) > 1 else 0.
                       for k in mean}
                print(f'| {model} | {label} | {stage} | {seeds[0]}-{seeds[-1]} | '
                      + ' | '.join(f'{mean[k]:.4f} +- {std[k]:.4f}' for k in mean) + ' |')


def part_mxnet(args, out, epochs=1):
    """The book's NeuMF cell in MXNet (d2l 1.0.3's BPRLoss, Gluon's Trainer), the same
    evidence after ``epochs`` epochs; needs the MXNet tab."""
    import random
    import d2l_recsys.compat  # noqa: F401  (before mxnet)
    from d2l_recsys import mxnet as dr
    from d2l import mxnet as d2l
    import mxnet as mx
    from mxnet import autograd, gluon, np as mnp, npx
    from mxnet.gluon import nn as mnn
    npx.set_np()
    dr.set_seed(0)

    class BookNeuMF(mnn.Block):   # the book's cell
        def __init__(self, num_factors, num_users, num_items, nums_hiddens, **kwargs):
            super().__init__(**kwargs)
            self.P = mnn.Embedding(num_users, num_factors)
            self.Q = mnn.Embedding(num_items, num_factors)
            self.U = mnn.Embedding(num_users, num_factors)
            self.V = mnn.Embedding(num_items, num_factors)
            self.mlp = mnn.Sequential()
            for num_hiddens in nums_hiddens:
                self.mlp.add(mnn.Dense(num_hiddens, activation='relu', use_bias=True))
            self.prediction_layer = mnn.Dense(1, activation='sigmoid', use_bias=False)

        def forward(self, user_id, item_id):
            gmf = self.P(user_id) * self.Q(item_id)
            mlp = self.mlp(mnp.concatenate([self.U(user_id), self.V(item_id)], axis=1))
            return self.prediction_layer(mnp.concatenate([gmf, mlp], axis=1))

    class PRDataset(gluon.data.Dataset):   # the book's cell
        def __init__(self, users, items, candidates, num_items):
            self.users, self.items, self.cand = users, items, candidates
            self.all = set(range(num_items))

        def __len__(self):
            return len(self.users)

        def __getitem__(self, idx):
            neg_items = list(self.all - set(self.cand[int(self.users[idx])]))
            neg = neg_items[random.randint(0, len(neg_items) - 1)]
            return self.users[idx], self.items[idx], neg

    print('\n## The book\'s NeuMF cell in MXNet (d2l 1.0.3)')
    df, num_users, num_items = dr.read_data_ml100k(args.data)
    train_data, test_data = dr.split_data_ml100k(df, num_users, num_items, 'seq-aware')
    users_train, items_train, _, candidates = dr.load_data_ml100k(
        train_data, num_users, num_items, feedback='implicit')
    train_iter = gluon.data.DataLoader(PRDataset(users_train, items_train, candidates, num_items),
                                       1024, True, last_batch='rollover')
    net = BookNeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10])
    net.initialize(ctx=mx.cpu(), force_reinit=True, init=mx.init.Normal(0.01))
    loss = d2l.BPRLoss()
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01, 'wd': 1e-5})
    data = load('test', args.data)
    U_all = mnp.array(np.repeat(np.arange(num_users), num_items))
    I_all = mnp.array(np.tile(np.arange(num_items), num_users))
    for epoch in range(epochs):
        for i, (u, p, n) in enumerate(train_iter):
            with autograd.record():
                lv = loss(net(u, p), net(u, n))
            lv.backward()
            if epoch == 0 and i in (0, 10, 50):
                rows = [(k, float(np.abs(v.grad().asnumpy()).max()) / 1024,
                         1e-5 * float(np.abs(v.data().asnumpy()).max()))
                        for k, v in net.collect_params().items()]
                print(f'  step {i}: max|gradient| / max|wd * w|: '
                      + '; '.join(f'{k} {g:.1e}/{w:.1e}' for k, g, w in rows))
            trainer.step(u.shape[0])
        s = net(U_all, I_all).asnumpy().reshape(num_users, num_items)
        norms = {k: float(np.linalg.norm(v.data().asnumpy()))
                 for k, v in net.collect_params().items()}
        m = exact_metrics(s, data['seen'], data['target'])
        print(f'  epoch {epoch + 1}: scores in [{s.min():.9g}, {s.max():.9g}], share == 0.5: '
              f'{(s == 0.5).mean():.3f}; exact {fmt(m)}; book\'s evaluator '
              + '/'.join(f'{v:.3f}' for v in book_metrics(s, data).values()))
        print('    parameter norms: ' + ' '.join(f'{k} {v:.2e}' for k, v in norms.items()))
        out({'part': 'mxnet', 'epoch': epoch + 1, 'share_0.5': float((s == 0.5).mean()),
             'norms': norms, **m})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--part', default='all',
                   help='baselines, collapse, search, final or all (comma-separated)')
    p.add_argument('--seeds', default='0-4,5-9', help='final test seeds, groups by commas')
    p.add_argument('--val-seeds', default='0-4', help='final validation seeds ("" for none)')
    p.add_argument('--configs', default='',
                   help="final: which rows, e.g. caser or 'caser:preset,neumf:book\'s cell' "
                        '(default: all)')
    p.add_argument('--mxnet', action='store_true', help='collapse: also the book\'s MXNet cell')
    p.add_argument('--mxnet-epochs', type=int, default=1)
    p.add_argument('--data', default=None, help='ML-100K folder (default: the checked cache)')
    p.add_argument('--out', default=os.path.join(ROOT, 'results', 'ranking_research'))
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'records.jsonl')

    def out(rec):
        with open(path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(rec) + '\n')

    # The matrix-product convolutions are the book's Conv2d arithmetic: check once.
    c = Caser(10, 3, 20, sigma=0.3)
    e = c.Q(torch.randint(0, 20, (64, 5)))
    assert torch.allclose(c.conv_features(e), c.conv_features_reference(e), atol=1e-5)
    parts = ('baselines', 'collapse', 'search', 'final') if args.part == 'all' else \
        args.part.split(',')
    for part in parts:
        {'baselines': part_baselines, 'collapse': part_collapse, 'search': part_search,
         'final': part_final}[part](args, out)
        if part == 'collapse' and args.mxnet:
            part_mxnet(args, out, args.mxnet_epochs)


if __name__ == '__main__':
    main()
