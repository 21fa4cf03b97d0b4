"""Matrix Factorization, the chapter's third section, in the PyTorch tab.

Book: "Matrix Factorization" (:numref:`sec_mf`),
https://d2l.ai/chapter_recommender-systems/mf.html, translated from the book's Gluon code. In
the book's order: the model :class:`MF`, the loss :class:`L2Loss` (Gluon's, which the book's
cell uses), the book's evaluator :func:`evaluator` and its training loop
:func:`train_recsys_rating` (which AutoRec reuses, :mod:`d2l_recsys.torch.autorec`); after the
book's code, the exact test RMSE :func:`rmse_exact`. Names, parameter names and shapes are
the MXNet tab's (:mod:`d2l_recsys.mxnet.mf`), so one set of weights fits both frameworks.
Several GPUs are used as the book's PyTorch tabs use them (:numref:`sec_multi_gpu_concise`):
the model is wrapped in ``nn.DataParallel``; data parallelism across processes or machines is
:mod:`d2l_recsys.torch.distributed`.
"""
import math
import time

import numpy as onp
import torch
from torch import nn

from .. import metrics
from ..checks import check_sizes
from ..experiments import finish_history, new_history, non_finite_error, record_epoch
from ..plotting import in_notebook, training_animator
from ..utils import Accumulator, Timer
from .devices import parse_devices

__all__ = ['MF', 'L2Loss', 'evaluator', 'train_recsys_rating', 'rmse_exact']


class MF(nn.Module):
    r"""Matrix factorization with user and item biases (book: :numref:`sec_mf`).

    The predicted rating of user :math:`u` for item :math:`i` is

    .. math:: \hat{R}_{ui} = \mathbf{p}_u \mathbf{q}_i^\top + b_u + b_i,

    with :math:`\mathbf{p}_u` row :math:`u` of the user factors ``P``, :math:`\mathbf{q}_i` row
    :math:`i` of the item factors ``Q`` and the biases ``user_bias``, ``item_bias``. Trained on

    .. math:: \min_{\mathbf{P}, \mathbf{Q}, b} \sum_{(u, i) \in \mathcal{K}}
              \| R_{ui} - \hat{R}_{ui} \|^2 + \lambda (\| \mathbf{P} \|_F^2
              + \| \mathbf{Q} \|_F^2 + b_u^2 + b_i^2)

    (:class:`L2Loss`, :math:`\lambda` as Adam's ``weight_decay``). The four embeddings start
    from :math:`\mathcal{N}(0, 0.01^2)`, the book's ``init=mx.init.Normal(0.01)`` (PyTorch's
    own default would be :math:`\mathcal{N}(0, 1)`). ``forward`` takes 0-based user and item
    indices (integer tensors) and returns one score per pair. The sizes are checked as in the
    MXNet tab (:func:`d2l_recsys.checks.check_sizes`): ``nn.Embedding`` takes 0 or 2.5.
    """
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super(MF, self).__init__(**kwargs)
        check_sizes(num_factors=num_factors, num_users=num_users, num_items=num_items)
        self.P = nn.Embedding(num_embeddings=num_users, embedding_dim=num_factors)
        self.Q = nn.Embedding(num_embeddings=num_items, embedding_dim=num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        for param in self.parameters():
            nn.init.normal_(param, mean=0, std=0.01)

    def forward(self, user_id, item_id):
        P_u = self.P(user_id)
        Q_i = self.Q(item_id)
        b_u = self.user_bias(user_id)
        b_i = self.item_bias(item_id)
        outputs = (P_u * Q_i).sum(axis=1) + torch.squeeze(b_u) + torch.squeeze(b_i)
        return outputs.flatten()


class L2Loss(nn.Module):
    r"""Gluon's ``L2Loss``: :math:`\frac{1}{2}(\hat{y} - y)^2`, averaged over all axes but the
    first, one value per example (no reduction over the batch).

    The book's loop back-propagates the sum of these and calls ``trainer.step(batch_size)``,
    which divides the gradient by the batch size; ``train_recsys_rating`` here does the same
    by back-propagating their mean. For MF that is half the squared error averaged over the
    batch; for AutoRec also averaged over the users of each row.
    """
    def forward(self, pred, label):
        loss = 0.5 * torch.square(label.reshape(pred.shape) - pred)
        return loss.mean(dim=tuple(range(1, loss.dim()))) if loss.dim() > 1 else loss


def evaluator(net, test_iter, devices):
    """The book's MF evaluator (:numref:`sec_mf`), translated from MXNet.

    Not the RMSE of the test set: the book's ``mx.metric.RMSE`` averages the RMSE of every
    device shard seen so far, and the evaluator then averages those running values over the
    batches (early batches weigh more, a batch of 3 counts like one of 512). The shards are
    cut as the book's ``split_and_load`` cuts them (:func:`d2l_recsys.metrics.shard_sizes`;
    empty ones, where a batch is smaller than the number of devices, are left out), so the
    number is the MXNet tab's for the same predictions and devices. :func:`rmse_exact` is the
    test-set RMSE.
    """
    net.eval()
    sum_metric, num_inst = 0.0, 0   # mx.metric.RMSE's state
    rmse_list = []
    with torch.no_grad():
        for idx, (users, items, ratings) in enumerate(test_iter):
            r_hat = net(users.to(devices[0]), items.to(devices[0])).cpu()
            sizes = [n for n in metrics.shard_sizes(len(ratings), len(devices)) if n]
            for r, p in zip(torch.split(ratings, sizes), torch.split(r_hat, sizes)):
                sum_metric += float(torch.sqrt(torch.mean(
                    torch.square(r.reshape(p.shape).float() - p))))
                num_inst += 1
            rmse_list.append(sum_metric / num_inst)
    return float(onp.mean(onp.array(rmse_list, dtype=onp.float32)))


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices=None, evaluator=None, *, plot=None, progress=None,
                        figure_path=None, **kwargs):
    """The book's training loop (:numref:`sec_mf`) in PyTorch, on one device or several GPUs.

    ``trainer`` is a ``torch.optim`` optimizer over ``net``'s parameters. A ``loss`` that
    returns one value per example (:class:`~d2l_recsys.torch.mf.L2Loss`, as Gluon's) is
    back-propagated as their mean, the gradient the book's ``l.backward()`` and
    ``trainer.step(batch_size)`` give; a loss that returns a scalar (the AutoRec deck's
    ``MSELoss(reduction='sum')``) is back-propagated as it is and reported per example (the
    deck's ``total_loss / n``). With several devices ``net`` is
    wrapped in ``nn.DataParallel`` (the book's PyTorch multi-GPU way); the evaluators get the
    wrapped model. ``evaluator(net, test_iter, devices)`` runs after every epoch, or
    ``evaluator(net, test_iter, inter_mat, devices)`` with the book's ``inter_mat=`` (AutoRec).
    The two printed lines are the book's, including its loss accounting (the printed "train
    loss" divides a sum of running sums by the number of examples); ``history['train_loss']``
    is, per epoch, the mean over batches of the per-example loss the book plots.

    Extras (keyword only) and the returned history are those of the MXNet tab's
    ``train_recsys_rating``: ``devices=None`` means :func:`try_all_gpus`; ``plot``,
    ``progress``, ``figure_path``; keys ``epoch``, ``train_loss``, ``test_rmse``, ``seconds``,
    ``train_seconds``, ``printed_train_loss``, ``examples_per_sec``, ``devices``.
    """
    unknown = set(kwargs) - {'inter_mat'}
    if unknown:
        raise TypeError('train_recsys_rating got unexpected keyword argument(s) '
                        f'{sorted(unknown)}; the book passes only inter_mat=')
    devices = parse_devices(devices)
    if evaluator is None:
        raise ValueError('train_recsys_rating needs an evaluator, e.g. '
                         'd2l_recsys.torch.evaluator for MF')
    if num_epochs < 1:
        raise ValueError(f'num_epochs must be at least 1, got {num_epochs}')
    if progress is None:
        progress = not in_notebook()
    net.to(devices[0])
    model = nn.DataParallel(net, device_ids=devices) if len(devices) > 1 else net
    history = new_history()
    timer = Timer()
    animator = training_animator(plot, num_epochs)
    for epoch in range(num_epochs):
        tic, train_before = time.time(), timer.sum()
        model.train()
        metric, l, i = Accumulator(3), 0., -1
        for i, values in enumerate(train_iter):
            timer.start()
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            input_data = [v.to(devices[0]) for v in values]
            train_feat = input_data[:-1] if len(values) > 1 else input_data
            train_label = input_data[-1]
            trainer.zero_grad()
            preds = model(*train_feat)
            ls = loss(preds, train_label)
            # Gluon: ls.backward() sums the per-example losses, trainer.step(batch_size)
            # divides the gradient by the batch size.
            (ls.sum() / values[0].shape[0] if ls.dim() else ls).backward()
            # The book's per-example mean loss of the batch (a summed loss: per row).
            l += float(ls.detach().mean() if ls.dim() else ls.detach() / values[0].shape[0])
            if not math.isfinite(l):
                raise non_finite_error('loss', l, epoch, trainer.param_groups[0]['lr'])
            trainer.step()
            metric.add(l, values[0].shape[0], values[0].numel())
            timer.stop()
        if i < 0:
            raise ValueError('train_recsys_rating: train_iter yielded no batch')
        if len(kwargs) > 0:  # It will be used in section AutoRec
            test_rmse = evaluator(model, test_iter, kwargs['inter_mat'], devices)
        else:
            test_rmse = evaluator(model, test_iter, devices)
        if not math.isfinite(test_rmse):
            raise non_finite_error('test RMSE', test_rmse, epoch, trainer.param_groups[0]['lr'])
        train_l = l / (i + 1)
        animator.add(epoch + 1, (train_l, test_rmse))
        record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic,
                     timer.sum() - train_before, progress)
    # The book's two closing lines: train loss, test RMSE; examples/sec on the devices.
    return finish_history(history, metric[0] / metric[1], test_rmse,
                          metric[2] * num_epochs / timer.sum(), devices,
                          animator=animator, figure_path=figure_path)


def _predict_mf(net, test_iter, devices):
    net.eval()
    preds, labels = [], []
    with torch.no_grad():
        for users, items, ratings in test_iter:
            preds.append(net(users.to(devices[0]), items.to(devices[0])).cpu().numpy())
            labels.append(ratings.numpy())
    if not preds:
        raise ValueError('rmse_exact: the test iterator yielded no ratings')
    return onp.concatenate(preds), onp.concatenate(labels)


def rmse_exact(net, test_iter, devices):
    """Exact test RMSE of an MF-style model over every (user, item, rating) ``test_iter``
    yields (:func:`d2l_recsys.metrics.rmse`, float64)."""
    return metrics.rmse(*_predict_mf(net, test_iter, devices))
