r"""NeuMF, negative sampling and the ranking evaluator, in the MXNet tab.

Book section: "Neural Collaborative Filtering for Personalized Ranking",
https://d2l.ai/chapter_recommender-systems/neumf.html. The book's code, in the
book's order and under its names: the model :class:`NeuMF`, the dataset with negative sampling
:class:`PRDataset`, the ``#@save`` functions ``hit_and_auc`` (framework-free, so it lives in
:mod:`d2l_recsys.rank_metrics`, which both tabs import it from), :func:`evaluate_ranking` and
:func:`train_ranking` (which the section "Sequence-Aware Recommender Systems" also calls), so
the book's cells run with ``from d2l_recsys import mxnet as d2l``. Tests hold the ``#@save``
functions equal to ``d2l`` 1.0.3's and the classes to the book's cells.

NeuMF (:cite:`He.Liao.Zhang.ea.2017`) scores user :math:`u` and item :math:`i` with a
generalized matrix factorization :math:`\mathbf{x} = \mathbf{p}_u \odot \mathbf{q}_i` and an
MLP over :math:`[\mathbf{u}_u, \mathbf{v}_i]` (its own embeddings, ReLU layers of
``nums_hiddens`` units), fused by a sigmoid layer without bias:

.. math:: \hat y_{ui} = \sigma(\mathbf{h}^\top [\mathbf{x}, \phi^L(z^{(L-1)})]).

What the book's code does that its text does not say (kept, since its printed numbers are
these; :mod:`d2l_recsys.rank_metrics` has the exact metrics beside them):

* ``evaluate_ranking`` ranks ``range(num_users)``, not ``range(num_items)``: on MovieLens 100K
  943 of the 1,682 items, and a held-out item with a larger index always counts as a miss. Its
  hit rate is at 50 (``hit_and_auc(..., 50)``), where the text speaks of
  :math:`\textrm{Hit}@\ell`. Ties keep the order of a Python set.
* ``train_ranking``'s printed "train loss" divides a sum of running sums by the number of
  examples (``metric.add(l, ...)`` adds the running total ``l`` at every batch), and its
  "examples/sec" divides by the sum of the times since the timer was made (it is never
  restarted), so that figure shrinks as training goes on.
* With the book's ``num_workers=d2l.get_dataloader_workers()``, ``PRDataset`` draws its
  negatives in worker processes, whose ``random`` Python reseeds from the operating system
  when it forks them: no seed fixes those draws. With ``num_workers=0`` the main process
  draws them, and ``random.seed`` does.

Extras are keyword arguments whose defaults keep the book's behaviour:
``train_ranking(..., exact=False, plot=None, progress=None, figure_path=None)``,
``NeuMF(..., output='sigmoid')`` (``'logit'``: the prediction layer without the sigmoid, so
that the loss sees the logits; :mod:`d2l_recsys.rank_tuning` says why the book's NeuMF learns
nothing and what makes it learn), :func:`score_matrix` (every user's score of every item, for
the exact metrics), and :func:`skip_loader_gc` (the book's evaluator in a tenth of the time, the
same numbers).
"""
import contextlib
import gc
import math
import random
import time

import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

from .. import rank_metrics
from ..rank_metrics import hit_and_auc  # the book's, framework-free (both tabs use it)
from ..experiments import non_finite_error
from ..plotting import in_notebook
from ..checks import neumf_arguments
from ..rank_runs import (finish_ranking_history, neumf_output, new_ranking_history,
                         ranking_animator, record_ranking_epoch)
from ..utils import Accumulator, Timer
from .fast_ranking import user_item_scores

npx.set_np()

__all__ = ['NeuMF', 'PRDataset', 'hit_and_auc', 'evaluate_ranking', 'train_ranking',
           'score_matrix', 'skip_loader_gc']


class NeuMF(nn.Block):
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 output='sigmoid', **kwargs):
        super(NeuMF, self).__init__(**kwargs)
        neumf_arguments(num_factors, num_users, num_items, nums_hiddens)
        self.output = neumf_output(output)   # extra: 'logit' drops the sigmoid
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu',
                                  use_bias=True))
        self.prediction_layer = nn.Dense(1, activation='sigmoid' if output == 'sigmoid'
                                         else None, use_bias=False)

    def forward(self, user_id, item_id):
        p_mf = self.P(user_id)
        q_mf = self.Q(item_id)
        gmf = p_mf * q_mf
        p_mlp = self.U(user_id)
        q_mlp = self.V(item_id)
        mlp = self.mlp(np.concatenate([p_mlp, q_mlp], axis=1))
        con_res = np.concatenate([gmf, mlp], axis=1)
        return self.prediction_layer(con_res)


class PRDataset(gluon.data.Dataset):
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
    ranked_list, ranked_items, hit_rate, auc = {}, {}, [], []
    all_items = set([i for i in range(num_users)])
    for u in range(num_users):
        neg_items = list(all_items - set(candidates[int(u)]))
        user_ids, item_ids, x, scores = [], [], [], []
        [item_ids.append(i) for i in neg_items]
        [user_ids.append(u) for _ in neg_items]
        x.extend([np.array(user_ids)])
        if seq is not None:
            x.append(seq[user_ids, :])
        x.extend([np.array(item_ids)])
        test_data_iter = gluon.data.DataLoader(
            gluon.data.ArrayDataset(*x), shuffle=False, last_batch="keep",
            batch_size=1024)
        for index, values in enumerate(test_data_iter):
            x = [gluon.utils.split_and_load(v, devices, even_split=False)
                 for v in values]
            scores.extend([list(net(*t).asnumpy()) for t in zip(*x)])
        scores = [item for sublist in scores for item in sublist]
        item_scores = list(zip(item_ids, scores))
        ranked_list[u] = sorted(item_scores, key=lambda t: t[1], reverse=True)
        ranked_items[u] = [r[0] for r in ranked_list[u]]
        temp = hit_and_auc(ranked_items[u], test_input[u], 50)
        hit_rate.append(temp[0])
        auc.append(temp[1])
    return np.mean(np.array(hit_rate)), np.mean(np.array(auc))


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, exact=False, plot=None, progress=None,
                  figure_path=None):
    """The book's pairwise training loop, with its printed lines (see the module's docstring
    for what they mean).

    Each batch ``values`` is ``(user, [seq,] positive item, negative item)``: the net scores
    ``values[:-1]`` and ``values[:-2] + [negative]``, ``loss(positive, negative)`` is
    back-propagated and ``trainer.step(batch_size)`` taken. Every ``eval_step`` epochs,
    under ``autograd.predict_mode()``, ``evaluator(net, test_iter, test_seq_iter, candidates,
    num_users, num_items, devices)`` gives the hit rate and AUC the book prints.

    Extras (keyword only; the defaults print exactly the book's two lines): ``exact=True``
    also scores every item for every user (:func:`score_matrix`) at each evaluation and
    records :func:`d2l_recsys.rank_metrics.exact_ranking_metrics` (HR@10, HR@50, NDCG@10,
    AUC over all unseen items) in the history, without printing them; ``plot`` (None: the
    book's live plot in Jupyter only; True/False; or an :class:`~d2l_recsys.plotting.Animator`),
    ``progress`` (None: one line per epoch on stderr outside Jupyter), ``figure_path`` (save
    the curve as ``.png`` and ``.svg``). A loss that becomes NaN or infinite stops training
    with one line. Returns the history (:func:`d2l_recsys.rank_runs.new_ranking_history`):
    per epoch the mean loss per example and the seconds, per evaluation the book's hit rate
    and AUC (and the exact metrics), the printed loss and examples/sec, and the measured
    examples/sec.
    """
    if num_epochs < 1:
        raise ValueError(f'num_epochs must be at least 1, got {num_epochs}')
    if progress is None:
        progress = not in_notebook()
    history, seen = new_ranking_history(), 0
    clock = Timer()        # what the examples/sec of the history measures (training only)
    timer, hit_rate, auc = Timer(), 0, 0
    animator = ranking_animator(plot, num_epochs)
    for epoch in range(num_epochs):
        tic, train_before, examples, total = time.time(), clock.sum(), 0, 0.
        metric, l = Accumulator(3), 0.
        for i, values in enumerate(train_iter):
            clock.start()
            input_data = []
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            with autograd.record():
                p_pos = [net(*t) for t in zip(*input_data[:-1])]
                p_neg = [net(*t) for t in zip(*input_data[:-2],
                                              input_data[-1])]
                ls = [loss(p, n) for p, n in zip(p_pos, p_neg)]
            [l.backward(retain_graph=False) for l in ls]
            batch = sum([float(l.sum()) for l in ls])
            if not math.isfinite(batch):
                raise non_finite_error('loss', batch, epoch, trainer.learning_rate)
            total, examples = total + batch, examples + values[0].shape[0]
            l += sum([l.asnumpy() for l in ls]).mean()/len(devices)
            trainer.step(values[0].shape[0])
            metric.add(l, values[0].shape[0], values[0].size)
            timer.stop()
            clock.stop()
        seen += examples   # (an epoch may have no batch: 'rollover' carries its examples)
        measured = None
        with autograd.predict_mode():
            if (epoch + 1) % eval_step == 0:
                hit_rate, auc = evaluator(net, test_iter, test_seq_iter,
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


def score_matrix(net, num_users, num_items, devices, *, seq=None, batch_size=65536,
                 structure=False):
    """Every user's score of every item, ``(num_users, num_items)`` float32 on the host.

    Calls ``net`` as the book's evaluator does, ``net(users, items)`` or, with ``seq`` (the
    users' input sequences, Caser's ``test_seq``), ``net(users, seq[users], items)``, in
    batches of about ``batch_size`` pairs (whole users) on ``devices[0]``. For the exact
    metrics (:func:`d2l_recsys.rank_metrics.exact_ranking_metrics`). ``structure=True``: a
    NeuMF, a Caser or an MF (the book's or the fast path's) is scored from its parts instead
    (:func:`d2l_recsys.mxnet.fast_ranking.user_item_scores`: the same scores to float
    rounding, in a fraction of the time), so that both paths measure the same weights the same
    way.
    """
    if structure and type(net).__name__ in ('NeuMF', 'Caser', 'MF'):
        return user_item_scores(net, seq=seq)
    ctx = devices[0]
    per = max(1, batch_size // num_items)
    items = onp.arange(num_items, dtype=onp.float32)
    seq_host = None if seq is None else (seq.asnumpy() if hasattr(seq, 'asnumpy')
                                         else onp.asarray(seq, dtype=onp.float32))
    out = onp.empty((num_users, num_items), dtype=onp.float32)
    with autograd.predict_mode():
        for a in range(0, num_users, per):
            users = onp.repeat(onp.arange(a, min(a + per, num_users), dtype=onp.float32),
                               num_items)
            args = [np.array(users, ctx=ctx)]
            if seq_host is not None:
                args.append(np.array(seq_host[users.astype(onp.int64)], ctx=ctx))
            args.append(np.array(onp.tile(items, len(users) // num_items), ctx=ctx))
            out[a:a + per] = net(*args).asnumpy().reshape(-1, num_items)
    return out


def _no_collection(generation=2):
    return 0


@contextlib.contextmanager
def skip_loader_gc():
    """While the block runs, ``gc.collect()`` does nothing: Gluon's ``DataLoader`` runs a full
    garbage collection every time one is made, and the book's :func:`evaluate_ranking` makes
    one per user. On MovieLens 100K those collections are about nine tenths of an
    evaluation's time (more, the more objects the process holds); skipping them changes no
    number. Python's automatic collection goes on as usual. ::

        with d2l.skip_loader_gc():
            train_ranking(...)
    """
    collect = gc.collect
    gc.collect = _no_collection
    try:
        yield
    finally:
        gc.collect = collect
