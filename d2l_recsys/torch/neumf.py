r"""NeuMF, negative sampling and the ranking evaluator, in PyTorch.

Book section: "Neural Collaborative Filtering for Personalized Ranking",
https://d2l.ai/chapter_recommender-systems/neumf.html. The MXNet tab's
:mod:`d2l_recsys.mxnet.neumf` (the book's section of that name) translated, under the same
names: :class:`NeuMF` (same architecture, parameter names and shapes, so one set of weights
fits both frameworks, and the book's initialisation: weights from :math:`\mathcal{N}(0,
0.01^2)`, biases zero), :class:`PRDataset` (the same negatives for the same ``random`` draws),
``hit_and_auc`` (the book's function itself, from :mod:`d2l_recsys.rank_metrics`),
:func:`evaluate_ranking` and :func:`train_ranking` with the book's behaviour and printed lines:
the evaluator ranks ``range(num_users)`` and counts hits at 50, the printed "train loss" is the
book's sum of running sums over the examples, its "examples/sec" divides by the sum of the
times since the start (see the MXNet module for each). The extras are the MXNet tab's:
``train_ranking(..., exact=False, plot=None, progress=None, figure_path=None)``,
``NeuMF(..., output='sigmoid')`` and :func:`score_matrix`.

Differences a PyTorch user would expect: the evaluator slices each user's items in batches of
1024 instead of making a ``DataLoader`` per user (the same batches, without PyTorch's loader
drawing a seed from the global generator for every user), the model is put in evaluation mode
under ``torch.no_grad()`` where the book uses ``autograd.predict_mode()``, and several GPUs
run the model through ``nn.DataParallel`` (the book's ``split_and_load``).
"""
import math
import random
import time

import numpy as onp
import torch
from torch import nn

from .. import rank_metrics
from ..experiments import non_finite_error
from ..plotting import in_notebook
from ..rank_metrics import hit_and_auc
from ..checks import neumf_arguments
from ..rank_runs import (finish_ranking_history, neumf_output, new_ranking_history,
                         ranking_animator, record_ranking_epoch)
from ..utils import Accumulator, Timer
from .fast_ranking import user_item_scores
from .devices import parse_devices

__all__ = ['Dense', 'init_book', 'NeuMF', 'PRDataset', 'hit_and_auc', 'evaluate_ranking',
           'train_ranking', 'score_matrix']


class Dense(nn.Linear):
    """Gluon's ``Dense(units, activation, use_bias, in_units)``: a ``Linear`` layer (weight
    ``(units, in_units)``, as Gluon's) followed by its activation (``'relu'``, ``'sigmoid'``
    or None)."""
    def __init__(self, in_units, units, activation=None, use_bias=True):
        super().__init__(in_units, units, bias=use_bias)
        if activation not in (None, 'relu', 'sigmoid'):
            raise ValueError(f'activation must be relu, sigmoid or None, got {activation!r}')
        self.activation = activation

    def forward(self, x):
        y = super().forward(x)
        if self.activation == 'relu':
            return torch.relu(y)
        return torch.sigmoid(y) if self.activation == 'sigmoid' else y


def init_book(module):
    """The book's ``net.initialize(init=mx.init.Normal(0.01))``: every weight from
    :math:`\\mathcal{N}(0, 0.01^2)` and every bias zero (Gluon's layers initialise their biases
    with zeros whatever the global initialiser), in the order of ``named_parameters``."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith('bias'):
                param.zero_()
            else:
                param.normal_(0, 0.01)
    return module


class NeuMF(nn.Module):
    """NeuMF (the book's block): GMF on ``P``, ``Q``; an MLP of ReLU layers of
    ``nums_hiddens`` units on ``[U_u, V_i]``; a sigmoid ``prediction_layer`` without bias on
    both. ``forward(user_id, item_id)`` returns shape ``(batch, 1)``, as the book's.
    ``output='logit'`` (not the book's): the prediction layer without the sigmoid."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 output='sigmoid', **kwargs):
        super(NeuMF, self).__init__(**kwargs)
        neumf_arguments(num_factors, num_users, num_items, nums_hiddens)
        self.output = neumf_output(output)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        units = 2 * num_factors
        for num_hiddens in nums_hiddens:
            self.mlp.append(Dense(units, num_hiddens, activation='relu', use_bias=True))
            units = num_hiddens
        self.prediction_layer = Dense(num_factors + units, 1, activation='sigmoid'
                                      if output == 'sigmoid' else None, use_bias=False)
        init_book(self)

    def forward(self, user_id, item_id):
        p_mf = self.P(user_id)
        q_mf = self.Q(item_id)
        gmf = p_mf * q_mf
        p_mlp = self.U(user_id)
        q_mlp = self.V(item_id)
        mlp = self.mlp(torch.cat([p_mlp, q_mlp], dim=1))
        con_res = torch.cat([gmf, mlp], dim=1)
        return self.prediction_layer(con_res)


class PRDataset(torch.utils.data.Dataset):
    """The book's dataset with negative sampling: example ``idx`` is ``(user, item, negative)``,
    the negative drawn with ``random.randint`` from the items the user has not trained on."""
    def __init__(self, users, items, candidates, num_items):
        self.users = users
        self.items = items
        self.cand = candidates
        self.all = set([i for i in range(num_items)])

    def __len__(self):
        return len(self.users)

    def __getitem__(self, idx):
        neg_items = list(self.all - set(self.cand[int(self.users[idx])]))
        indices = random.randint(0, len(neg_items) - 1)
        return self.users[idx], self.items[idx], neg_items[indices]


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items,
                     devices):
    """The book's evaluator: for each user, the items ``range(num_users)`` they did not train
    on, scored in batches of 1024, sorted (stable, descending), ``hit_and_auc(..., 50)``.
    Returns the means of the hits and AUCs (float32, as the book's MXNet arrays). Runs the
    model in evaluation mode (as MXNet runs the book's without dropout outside training) under
    ``torch.no_grad()``, and puts it back in the mode it was in."""
    was_training = net.training
    net.eval()
    ranked_list, ranked_items, hit_rate, auc = {}, {}, [], []
    all_items = set([i for i in range(num_users)])
    seq = None if seq is None else torch.as_tensor(onp.asarray(seq), dtype=torch.int64)
    for u in range(num_users):
        neg_items = list(all_items - set(candidates[int(u)]))
        user_ids, item_ids, x, scores = [], [], [], []
        [item_ids.append(i) for i in neg_items]
        [user_ids.append(u) for _ in neg_items]
        x.extend([torch.tensor(user_ids, dtype=torch.int64)])
        if seq is not None:
            x.append(seq[user_ids, :])
        x.extend([torch.tensor(item_ids, dtype=torch.int64)])
        with torch.no_grad():
            for start in range(0, len(item_ids), 1024):
                values = [v[start:start + 1024].to(devices[0]) for v in x]
                scores.extend([list(net(*values).cpu().numpy())])
        scores = [item for sublist in scores for item in sublist]
        item_scores = list(zip(item_ids, scores))
        ranked_list[u] = sorted(item_scores, key=lambda t: t[1], reverse=True)
        ranked_items[u] = [r[0] for r in ranked_list[u]]
        temp = hit_and_auc(ranked_items[u], test_input[u], 50)
        hit_rate.append(temp[0])
        auc.append(temp[1])
    net.train(was_training)
    return (onp.mean(onp.array(hit_rate, dtype=onp.float32)),
            onp.mean(onp.array(auc, dtype=onp.float32)))


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, exact=False, plot=None, progress=None,
                  figure_path=None):
    """The book's pairwise training loop in PyTorch, with its printed lines; ``trainer`` is a
    ``torch.optim`` optimizer over ``net``'s parameters.

    Each batch ``values`` is ``(user, [seq,] positive item, negative item)``; the net scores
    ``values[:-1]`` and ``values[:-2] + [negative]``, ``loss(positive, negative)`` summed and
    divided by the batch size is back-propagated (the gradient of the book's ``l.backward()``
    and ``trainer.step(batch_size)``), then ``trainer.step()``. Every ``eval_step`` epochs, in
    evaluation mode under ``torch.no_grad()``, ``evaluator(net, test_iter, test_seq_iter,
    candidates, num_users, num_items, devices)`` gives the hit rate and AUC the book prints.
    Extras and the returned history: the MXNet tab's ``train_ranking``'s.
    """
    devices = parse_devices(devices)
    if num_epochs < 1:
        raise ValueError(f'num_epochs must be at least 1, got {num_epochs}')
    if progress is None:
        progress = not in_notebook()
    net.to(devices[0])
    model = nn.DataParallel(net, device_ids=devices) if len(devices) > 1 else net
    history, seen = new_ranking_history(), 0
    clock = Timer()        # what the examples/sec of the history measures (training only)
    timer, hit_rate, auc = Timer(), 0, 0
    animator = ranking_animator(plot, num_epochs)
    for epoch in range(num_epochs):
        tic, train_before, examples, total = time.time(), clock.sum(), 0, 0.
        model.train()
        metric, l = Accumulator(3), 0.
        for i, values in enumerate(train_iter):
            clock.start()
            input_data = [v.to(devices[0]) for v in values]
            trainer.zero_grad()
            p_pos = model(*input_data[:-1])
            p_neg = model(*input_data[:-2], input_data[-1])
            ls = loss(p_pos, p_neg)
            (ls.sum() / values[0].shape[0]).backward()
            batch = float(ls.detach().sum())
            if not math.isfinite(batch):
                raise non_finite_error('loss', batch, epoch, trainer.param_groups[0]['lr'])
            total, examples = total + batch, examples + values[0].shape[0]
            # The book adds, per batch, the loss summed over the devices' shards / devices.
            l += batch / len(devices)
            trainer.step()
            metric.add(l, values[0].shape[0], values[0].numel())
            timer.stop()
            clock.stop()
        seen += examples   # (an epoch may have no batch)
        measured = None
        if (epoch + 1) % eval_step == 0:
            model.eval()
            with torch.no_grad():
                hit_rate, auc = evaluator(model, test_iter, test_seq_iter,
                                          candidates, num_users, num_items,
                                          devices)
                animator.add(epoch + 1, (hit_rate, auc))
                measured = (float(hit_rate), float(auc))
                if exact:
                    scores = score_matrix(net, num_users, num_items, devices,
                                          seq=test_seq_iter, structure=True)
                    measured += (rank_metrics.exact_ranking_metrics(
                        scores, candidates, test_iter),)
        record_ranking_epoch(history, epoch, num_epochs,
                             total / examples if examples else None, measured, tic,
                             clock.sum() - train_before, progress)
    # The book's two lines: train loss, hit rate and AUC of the last evaluation;
    # metric[2] * num_epochs / timer.sum() examples/sec.
    return finish_ranking_history(
        history, printed_train_loss=metric[0] / metric[1],
        printed_examples_per_sec=metric[2] * num_epochs / timer.sum(),
        examples_per_sec=seen / clock.sum(), devices=devices,
        animator=animator, figure_path=figure_path)


def score_matrix(net, num_users, num_items, devices=None, *, seq=None, batch_size=65536,
                 structure=False):
    """Every user's score of every item, ``(num_users, num_items)`` float32 on the host: the
    MXNet tab's :func:`~d2l_recsys.mxnet.neumf.score_matrix` (``net(users, [seq[users],]
    items)`` in batches of whole users; ``structure=True``: a NeuMF, a Caser or an MF from
    its parts, :func:`d2l_recsys.torch.fast_ranking.user_item_scores`)."""
    base = getattr(net, 'module', net)   # the model inside nn.DataParallel
    if structure and type(base).__name__ in ('NeuMF', 'Caser', 'MF'):
        return user_item_scores(base, seq=seq)
    device = parse_devices(devices)[0] if devices is not None else \
        next(net.parameters()).device
    per = max(1, batch_size // num_items)
    items = torch.arange(num_items, dtype=torch.int64, device=device)
    seq_t = None if seq is None else torch.as_tensor(onp.asarray(seq), dtype=torch.int64,
                                                     device=device)
    out = onp.empty((num_users, num_items), dtype=onp.float32)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for a in range(0, num_users, per):
            users = torch.arange(a, min(a + per, num_users), device=device)
            u = users.repeat_interleave(num_items)
            args = [u] + ([seq_t[u]] if seq_t is not None else []) + \
                [items.repeat(len(users))]
            out[a:a + per] = net(*args).reshape(-1, num_items).cpu().numpy()
    net.train(was_training)
    return out
