"""Matrix Factorization, the chapter's third section, in the MXNet tab.

Book: "Matrix Factorization" (:numref:`sec_mf`),
https://d2l.ai/chapter_recommender-systems/mf.html. In the book's order: the model :class:`MF`,
the book's evaluator :func:`evaluator` and its training loop :func:`train_recsys_rating` (which
AutoRec reuses, :mod:`d2l_recsys.mxnet.autorec`); after the book's code, the exact test RMSE
:func:`rmse_exact` that reports print beside the book's number, and the input checks
:func:`check_sizes` (the one every tab's models call, :mod:`d2l_recsys.checks`) and
:func:`batch_hint`. The classes and functions are the book's, so its
cells run unchanged with ``from d2l_recsys import mxnet as d2l``.
"""
import math
import time

import mxnet as mx
import numpy as onp
from mxnet import npx, autograd, gluon, np
from mxnet.gluon import nn

from .. import metrics
from ..checks import check_sizes
from ..experiments import finish_history, new_history, non_finite_error, record_epoch
from ..plotting import in_notebook, training_animator
from ..utils import Accumulator, Timer
from .devices import try_all_gpus

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['MF', 'evaluator', 'train_recsys_rating', 'rmse_exact', 'check_sizes',
           'batch_hint']


class MF(nn.Block):
    r"""Matrix factorization with user and item biases (book: :numref:`sec_mf`).

    The predicted rating of user :math:`u` for item :math:`i` is

    .. math:: \hat{R}_{ui} = \mathbf{p}_u \mathbf{q}_i^\top + b_u + b_i,

    where :math:`\mathbf{p}_u` is row :math:`u` of the user factors
    :math:`\mathbf{P} \in \mathbb{R}^{m \times k}` (child ``P``), :math:`\mathbf{q}_i` row
    :math:`i` of the item factors :math:`\mathbf{Q} \in \mathbb{R}^{n \times k}` (child ``Q``)
    and :math:`b_u, b_i` the biases (children ``user_bias``, ``item_bias``). Trained on

    .. math:: \min_{\mathbf{P}, \mathbf{Q}, b} \sum_{(u, i) \in \mathcal{K}}
              \| R_{ui} - \hat{R}_{ui} \|^2 + \lambda (\| \mathbf{P} \|_F^2
              + \| \mathbf{Q} \|_F^2 + b_u^2 + b_i^2)

    (L2 loss, :math:`\lambda` as the optimizer's weight decay). ``forward`` takes 0-based user
    and item indices (MovieLens id minus one) and returns one score per pair.
    """
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super(MF, self).__init__(**kwargs)
        check_sizes(num_factors=num_factors, num_users=num_users, num_items=num_items)
        self.P = nn.Embedding(input_dim=num_users, output_dim=num_factors)
        self.Q = nn.Embedding(input_dim=num_items, output_dim=num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)

    def forward(self, user_id, item_id):
        P_u = self.P(user_id)
        Q_i = self.Q(item_id)
        b_u = self.user_bias(user_id)
        b_i = self.item_bias(item_id)
        outputs = (P_u * Q_i).sum(axis=1) + np.squeeze(b_u) + np.squeeze(b_i)
        return outputs.flatten()


def evaluator(net, test_iter, devices):
    """The book's MF evaluator (:numref:`sec_mf`), unchanged.

    Not the RMSE of the test set: ``mx.metric.RMSE`` averages the RMSE of each device shard
    seen so far, and this function then averages those running values over the batches, so
    early batches weigh more and a batch of 3 counts like one of 512. It is kept because the
    book's figures and its printed "test RMSE" are this number; :func:`rmse_exact` gives the
    square root of the mean squared error over all test ratings.
    """
    rmse = mx.metric.RMSE()  # Get the RMSE
    rmse_list = []
    for idx, (users, items, ratings) in enumerate(test_iter):
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r_ui = gluon.utils.split_and_load(ratings, devices, even_split=False)
        r_hat = [net(u, i) for u, i in zip(u, i)]
        rmse.update(labels=r_ui, preds=r_hat)
        rmse_list.append(rmse.get()[1])
    return float(np.mean(np.array(rmse_list)))


def batch_hint(train_iter):
    """``' (batch size B, N training rows)'`` for the error of a loader that yields no batch,
    or ``''`` (Gluon's DataLoader keeps both in private fields: best effort)."""
    try:
        n = len(train_iter._dataset)
        size = train_iter._batch_sampler._batch_size
    except (AttributeError, TypeError):
        return ''
    return f' (batch size {size}, {n} training rows)'


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices=None, evaluator=None, *, plot=None, progress=None,
                        figure_path=None, **kwargs):
    """The book's training loop (:numref:`sec_mf`), on one device or several.

    Each batch is split over ``devices`` with ``split_and_load`` (so its size must be a
    multiple of the number of devices), the losses are back-propagated on every device and
    ``trainer.step`` aggregates the gradients. ``evaluator(net, test_iter, devices)`` is called
    after every epoch, or ``evaluator(net, test_iter, inter_mat, devices)`` when the book's
    ``inter_mat=`` keyword is given (AutoRec). It prints the book's two lines, including its
    loss accounting: the printed "train loss" divides a sum of running sums by the number of
    examples, so it is not the mean training loss (``history['train_loss']`` is, per epoch,
    the mean over batches of the per-example loss that the book plots).

    Extras (keyword only): ``devices=None`` means :func:`try_all_gpus`; ``plot`` (None:
    live in Jupyter only; True/False; or a :class:`~d2l_recsys.plotting.Animator`);
    ``progress`` (None: one line per epoch on stderr outside Jupyter); ``figure_path`` (save
    the curve as ``.png`` and ``.svg``). Returns a history dict: ``epoch``, ``train_loss``,
    ``test_rmse``, ``seconds`` (wall clock per epoch, evaluation included),
    ``train_seconds``, ``examples_per_sec`` and ``devices`` as printed, ``printed_train_loss``.
    """
    unknown = set(kwargs) - {'inter_mat'}
    if unknown:
        raise TypeError('train_recsys_rating got unexpected keyword argument(s) '
                        f'{sorted(unknown)}; the book passes only inter_mat=')
    if devices is None:
        devices = try_all_gpus()
    if len(devices) == 0:
        raise ValueError('train_recsys_rating: devices is empty; give at least one context, '
                         'e.g. [mx.cpu()] (try_all_gpus() falls back to the CPU)')
    if evaluator is None:
        raise ValueError('train_recsys_rating needs an evaluator, e.g. '
                         'd2l_recsys.mxnet.evaluator for MF')
    if num_epochs < 1:
        raise ValueError(f'num_epochs must be at least 1, got {num_epochs}')
    if progress is None:
        progress = not in_notebook()
    history = new_history()
    timer = Timer()
    animator = training_animator(plot, num_epochs)
    for epoch in range(num_epochs):
        tic, train_before = time.time(), timer.sum()
        metric, l, i = Accumulator(3), 0., -1
        for i, values in enumerate(train_iter):
            timer.start()
            input_data = []
            values = values if isinstance(values, list) else [values]
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            train_feat = input_data[:-1] if len(values) > 1 else input_data
            train_label = input_data[-1]
            with autograd.record():
                preds = [net(*t) for t in zip(*train_feat)]
                ls = [loss(p, s) for p, s in zip(preds, train_label)]
            [l.backward() for l in ls]
            l += sum([l.asnumpy() for l in ls]).mean() / len(devices)
            if not math.isfinite(l):
                raise non_finite_error('loss', l, epoch, trainer.learning_rate)
            trainer.step(values[0].shape[0])
            metric.add(l, values[0].shape[0], values[0].size)
            timer.stop()
        if i < 0:
            raise ValueError('train_recsys_rating: train_iter yielded no batch'
                             + batch_hint(train_iter))
        if len(kwargs) > 0:  # It will be used in section AutoRec
            test_rmse = evaluator(net, test_iter, kwargs['inter_mat'], devices)
        else:
            test_rmse = evaluator(net, test_iter, devices)
        if not math.isfinite(test_rmse):
            raise non_finite_error('test RMSE', test_rmse, epoch, trainer.learning_rate)
        train_l = l / (i + 1)
        animator.add(epoch + 1, (train_l, test_rmse))
        record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic,
                     timer.sum() - train_before, progress)
    # The book's two closing lines: train loss, test RMSE; examples/sec on the devices.
    return finish_history(history, metric[0] / metric[1], test_rmse,
                          metric[2] * num_epochs / timer.sum(), devices,
                          animator=animator, figure_path=figure_path)


def rmse_exact(net, test_iter, devices):
    """Exact test RMSE of an MF-style model (:func:`d2l_recsys.metrics.rmse`) over every
    (user, item, rating) triple ``test_iter`` yields; same inputs as :func:`evaluator`."""
    preds, labels = [], []
    for users, items, ratings in test_iter:
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r = gluon.utils.split_and_load(ratings, devices, even_split=False)
        for u_, i_, r_ in zip(u, i, r):
            preds.append(net(u_, i_).asnumpy().reshape(-1))
            labels.append(r_.asnumpy().reshape(-1))
    if not labels:
        raise ValueError('rmse_exact: the test iterator yielded no ratings')
    return metrics.rmse(onp.concatenate(preds), onp.concatenate(labels))
