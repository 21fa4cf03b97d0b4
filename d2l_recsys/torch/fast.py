"""The fast path of the PyTorch tab: the same models, loss, optimizer and batches, sooner.

``train_mf(fast=True)`` / ``train_autorec(fast=True)`` (CLI ``--framework torch --fast``) of
:mod:`d2l_recsys.torch.experiments` check, seed, read the data and build the model as the
faithful path does, then train here with :func:`fit_mf` / :func:`fit_autorec`.

What stays the same: the modules (:class:`~d2l_recsys.torch.mf.MF`,
:class:`~d2l_recsys.torch.autorec.AutoRec`, initialised by the same calls), the loss and its
gradient (MF: :class:`~d2l_recsys.torch.mf.L2Loss` summed over the batch and divided by
its size; AutoRec: the deck's ``MSELoss(reduction='sum')``), ``torch.optim.Adam`` with the
same arguments (its ``fused=True`` kernel: the same update, one call for all parameters
instead of a dozen small operators per parameter), and the batches and dropout masks: :class:`ShuffledBatches` replays the draws
a ``DataLoader(shuffle=True)`` makes from PyTorch's global generator (one number for the
iterator, one for its ``RandomSampler``, then ``randperm`` on a generator seeded with it), and
each evaluation makes the one draw the faithful path's test ``DataLoader`` makes, so that the
next epoch's shuffle and dropout masks are the faithful path's too. Same seed, same batches.

What is faster: the training data sits on the device as whole tensors and an epoch's batches
are gathered with one index per tensor and cut as views (no per-example ``Dataset`` access and
collation); the batch losses stay on the device until the epoch ends (one host copy per
epoch instead of one per batch); evaluation is one forward pass over large batches (AutoRec's
only over the rows that have test ratings, whose squared errors are summed on the device);
and the run uses the thread count chosen per model (:data:`THREADS`). The numbers are the
faithful path's to float32 rounding (the fused Adam kernel and the evaluation sum in another
order); the batches and dropout masks are exactly the same.
"""
import contextlib
import math
import time

import numpy as onp
import torch

from .. import metrics, stopping
from ..experiments import finish_history, new_history, non_finite_error, record_epoch
from ..plotting import in_notebook, training_animator
from ..utils import Timer

__all__ = ['ShuffledBatches', 'loader_draw', 'fit_mf', 'fit_autorec', 'THREADS',
           'num_threads', 'OPTIMIZERS', 'make_optimizer', 'EarlyStopping', 'mf_penalty',
           'mf_predict', 'mf_rmse_exact', 'autorec_rmse_exact']

# PyTorch's intra-op threads for each model's fast path on a CPU (None: PyTorch's default,
# one per core), restored when the run ends. MF's steps are many small operators: a second
# thread never pays, and on a machine whose cores other processes share, OpenMP threads
# waiting for each other at every operator made MF about 10x slower (measured here: 2 cores,
# load average near 6). AutoRec's dense products gain from every free core (1.2-1.4x sooner
# with 2 threads at load 1.4), though under heavy load one thread was faster there too:
# set THREADS['autorec'] = 1 on a crowded machine. docs/speed.md has the runs.
THREADS = {'mf': 1, 'autorec': None}


def loader_draw():
    """The number a ``DataLoader`` draws from PyTorch's global generator each time it is
    iterated (its iterator's base seed, for worker processes), drawn and dropped."""
    torch.empty((), dtype=torch.int64).random_()


class ShuffledBatches:
    """The batches of ``DataLoader(dataset, batch_size, shuffle=True, drop_last=drop_last)``.

    :meth:`epoch` makes the draws iterating such a loader makes, in its order: the iterator's
    base seed (:func:`loader_draw`), then the ``RandomSampler``'s seed, from which a private
    generator draws the permutation (``torch.randperm``). With the same global seed the index
    batches are the loader's, in its order.
    """
    def __init__(self, n, batch_size, drop_last=False):
        if batch_size < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        self.n, self.batch_size, self.drop_last = int(n), int(batch_size), bool(drop_last)

    def epoch(self):
        """This epoch's permutation and the ``(start, stop)`` of each batch in it."""
        loader_draw()
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator()
        generator.manual_seed(seed)
        perm = torch.randperm(self.n, generator=generator)
        stop = (self.n // self.batch_size * self.batch_size if self.drop_last else self.n)
        return perm, [(a, min(a + self.batch_size, stop))
                      for a in range(0, stop, self.batch_size)]


def num_threads(model, devices):
    """The intra-op thread count the fast path of ``model`` uses on ``devices`` (None: leave
    PyTorch's as it is: on a GPU, or where :data:`THREADS` says so)."""
    if any(d.type != 'cpu' for d in devices):
        return None
    return THREADS[model]


@contextlib.contextmanager
def threads(n):
    """PyTorch's intra-op threads set to ``n`` for the block (None: unchanged), then restored."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_device(devices):
    if len(devices) != 1:
        raise ValueError(f'the fast path trains on one device, got {len(devices)} '
                         f'({", ".join(map(str, devices))}); drop --fast for several GPUs')
    return devices[0]


def _train_epochs(net, step, trainer, batches, tensors, num_epochs, evaluate, examples_per_row,
                  devices, plot, progress, figure_path, after_epoch=None, verbose=True):
    """The loop of ``train_recsys_rating`` over device-resident data.

    ``tensors``: the training data on the device (one tensor per column); per epoch they are
    permuted once and every batch is a slice (a view). ``step(*batch)`` runs forward and
    backward and returns the batch's per-example mean loss (a device scalar); then
    ``trainer.step()``. Per epoch: one host copy of the losses, then ``evaluate()``, then
    ``after_epoch(epoch, history)`` (when given), which returns True to stop early. ``plot``,
    ``progress``, ``figure_path`` as in ``train_recsys_rating``; ``verbose=False`` drops the
    book's two closing lines.
    Returns the history of :func:`~d2l_recsys.torch.mf.train_recsys_rating`.
    """
    if progress is None:
        progress = not in_notebook()
    animator = training_animator(plot, num_epochs)
    history = new_history()
    timer = Timer()
    for epoch in range(num_epochs):
        lr = trainer.param_groups[0]['lr']   # a decay may change it between epochs
        tic = time.time()
        net.train()
        timer.start()
        perm, bounds = batches.epoch()
        if not bounds:
            raise ValueError(f'epoch {epoch + 1}: the training data ({batches.n} rows) gives '
                             f'no batch of {batches.batch_size}')
        index = perm.to(tensors[0].device)
        shuffled = [t[index] for t in tensors]
        losses = torch.empty(len(bounds), device=tensors[0].device)
        sizes = []
        for b, (start, stop) in enumerate(bounds):
            trainer.zero_grad()
            losses[b] = step(*(t[start:stop] for t in shuffled))
            trainer.step()
            sizes.append(stop - start)
        batch_means = losses.double().cpu().numpy()
        timer.stop()
        if not onp.isfinite(batch_means).all():
            bad = batch_means[~onp.isfinite(batch_means)][0]
            raise non_finite_error('loss', bad, epoch, lr)
        test_rmse = evaluate()
        if not math.isfinite(test_rmse):
            raise non_finite_error('test RMSE', test_rmse, epoch, lr)
        # The book's accounting: l is the running sum of the batch means, train_l = l / batches,
        # and the printed loss adds the running sum at every batch, over the examples.
        running = onp.cumsum(batch_means)
        train_l = float(running[-1] / len(bounds))
        printed = float(running.sum()) / sum(sizes)
        examples = sum(sizes) * examples_per_row
        animator.add(epoch + 1, (train_l, test_rmse))
        record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic, timer.times[-1],
                     progress, digits=2)
        if after_epoch is not None and after_epoch(epoch + 1, history):
            break
    examples_per_sec = examples * len(history['epoch']) / timer.sum()
    return finish_history(history, printed, test_rmse, examples_per_sec, devices,
                          animator=animator, figure_path=figure_path, verbose=verbose)


# ------------------------------------------------------ what tuning and the exercises add
# The options of the MXNet tab's fast path (d2l_recsys.mxnet.fast.fit_mf / fit_autorec), with
# the same meanings: the optimizer, early stopping, the learning-rate decay, MF's penalty.

# torch.optim's classes (by name) for the MXNet tab's optimizer names, with MXNet's defaults
# where PyTorch's differ (RMSProp's moving average 0.9, AdaGrad's epsilon 1e-7). Weight decay is
# added to the gradient in all four, as MXNet does, except that MXNet's AdaGrad applies it
# beside the scaled step instead of inside the accumulated squares. Adam is the fused kernel,
# as on the rest of the fast path.
OPTIMIZERS = {
    'adam': ('Adam', {'fused': True}),
    'rmsprop': ('RMSprop', {'alpha': 0.9}),
    'adagrad': ('Adagrad', {'eps': 1e-7}),
    'sgd': ('SGD', {}),
}


def make_optimizer(name, parameters, lr, wd):
    """The optimizer ``name`` (a key of :data:`OPTIMIZERS`) over ``parameters``, with learning
    rate ``lr`` and weight decay ``wd`` (MXNet's ``wd``: added to the gradient)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    cls, extra = OPTIMIZERS[name]
    return getattr(torch.optim, cls)(parameters, lr=lr, weight_decay=wd, **extra)


class EarlyStopping(stopping.EarlyStopping):
    """:class:`d2l_recsys.stopping.EarlyStopping` for a module: the best epoch's
    ``state_dict`` is cloned on its device when the held-out RMSE improves."""
    def __init__(self, net, patience, min_delta=0.):
        super().__init__(patience, min_delta)
        self.net = net

    def snapshot(self):
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def load(self, saved):
        self.net.load_state_dict(saved)


def _stopping(net, trainer, patience, rmse_of, on_epoch, lr_decay, decay_at):
    """``(stopper, after_epoch)``: :func:`d2l_recsys.stopping.after_epoch_hook` with this
    module's :class:`EarlyStopping` (None without ``patience``) and the decay applied to every
    parameter group of ``trainer``."""
    stopper = EarlyStopping(net, patience) if patience else None
    stopping.check_lr_decay(lr_decay, patience, decay_at)

    def scale_lr(factor):
        for group in trainer.param_groups:
            group['lr'] = group['lr'] * factor
    return stopper, stopping.after_epoch_hook(stopper, rmse_of, on_epoch, scale_lr=scale_lr,
                                              lr_decay=lr_decay, decay_at=decay_at)


def mf_penalty(net, users, items, reg):
    r"""The MXNet tab's MF penalty on the factor rows each rating of a batch touches,

    .. math:: \tfrac{\lambda}{2} \sum_{(u,i) \in B} (\|\mathbf{p}_u\|^2 + \|\mathbf{q}_i\|^2),

    added to the batch's summed loss (a row counts once per rating that touches it; the biases
    are left out, as there: they carry the ratings' average of about 3.5)."""
    return 0.5 * reg * (torch.square(net.P(users)).sum() + torch.square(net.Q(items)).sum())


def mf_predict(net, users, items, *, eval_batch_size=65536):
    """An MF's predictions for 0-based ``users`` and ``items`` (integer tensors on the net's
    device), in evaluation mode, in batches of ``eval_batch_size``: a float32 tensor."""
    net.eval()
    with torch.no_grad():
        return torch.cat([net(users[a:a + eval_batch_size], items[a:a + eval_batch_size])
                          for a in range(0, len(users), eval_batch_size)]
                         or [torch.zeros(0, device=users.device)])


def _device_of(net):
    return next(net.parameters()).device


def mf_rmse_exact(net, users, items, ratings):
    """The exact RMSE (:func:`d2l_recsys.metrics.rmse`) of an MF on host test triples."""
    device = _device_of(net)
    preds = mf_predict(net, torch.as_tensor(onp.asarray(users, dtype=onp.int64), device=device),
                       torch.as_tensor(onp.asarray(items, dtype=onp.int64), device=device))
    return metrics.rmse(preds.cpu().numpy(), onp.asarray(ratings, dtype=onp.float32))


def autorec_rmse_exact(net, train_mat, test_mat, *, eval_batch_size=4096):
    """The exact RMSE (:func:`d2l_recsys.metrics.masked_rmse`) of an AutoRec reconstructing
    the rows of ``train_mat`` (host), at the observed entries of ``test_mat``."""
    train_mat = onp.asarray(train_mat, dtype=onp.float32)
    rows = onp.flatnonzero((onp.asarray(test_mat) != 0).any(axis=1))
    x = torch.as_tensor(train_mat[rows], device=_device_of(net))
    net.eval()
    with torch.no_grad():
        recons = torch.cat([net(x[a:a + eval_batch_size])
                            for a in range(0, len(rows), eval_batch_size)])
    return metrics.masked_rmse(recons.cpu().numpy(), onp.asarray(test_mat)[rows])


# ----------------------------------------------------------------------------- the two models

def fit_mf(net, loss, trainer, run_data, settings, devices, *, plot=None, progress=None,
           figure_path=None, eval_batch_size=65536, patience=None, on_epoch=None,
           verbose=True, reg=0., lr_decay=None, decay_at=None):
    """Train MF ``net`` (built and initialised by the caller, as on the faithful path) on
    ``run_data``; returns the history, with ``test_rmse_exact``.

    Per batch the gradient is that of ``loss(net(u, i), r).sum() / batch size``, as in
    ``train_recsys_rating``. ``history['test_rmse']`` is the book's running-mean evaluator
    (:func:`d2l_recsys.metrics.book_running_rmse` over test batches of the training batch
    size, as the faithful test ``DataLoader`` cuts them).

    The MXNet fast path's options (:func:`d2l_recsys.mxnet.fast.fit_mf`), the same meanings:
    ``patience``, early stopping on the exact RMSE of ``run_data.test`` (a validation set when
    choosing epochs) restoring the best epoch (``history['best_epoch']``, ``best_rmse``;
    ``test_rmse_exact`` is then the best epoch's); ``on_epoch(epoch, rmse)`` after every epoch;
    ``verbose=False``, no closing lines; ``reg``, :func:`mf_penalty` added to the loss (0, the
    book's, adds none); ``lr_decay`` and ``decay_at``, see
    :func:`d2l_recsys.stopping.after_epoch_hook`.
    """
    device = _check_device(devices)
    net.to(device)
    train_u, train_i, train_r, _ = run_data.train
    test_u, test_i, test_r, _ = run_data.test
    tensors = [torch.as_tensor(onp.asarray(train_u, dtype=onp.int64), device=device),
               torch.as_tensor(onp.asarray(train_i, dtype=onp.int64), device=device),
               torch.as_tensor(onp.asarray(train_r, dtype=onp.float32), device=device)]
    test = [torch.as_tensor(onp.asarray(test_u, dtype=onp.int64), device=device),
            torch.as_tensor(onp.asarray(test_i, dtype=onp.int64), device=device)]
    test_r = onp.asarray(test_r, dtype=onp.float32)
    if len(test_r) == 0:
        raise ValueError('the test split holds no ratings')
    batch_size = settings['batch_size']
    last = {}

    def step(users, items, ratings):
        ls = loss(net(users, items), ratings)
        if reg:
            total = ls.sum() + mf_penalty(net, users, items, reg)
            (total / users.shape[0]).backward()
            return total.detach() / users.shape[0]
        (ls.sum() / users.shape[0]).backward()
        return ls.detach().mean()

    def predict():
        return mf_predict(net, *test, eval_batch_size=eval_batch_size).cpu().numpy()

    def evaluate():
        preds = predict()
        loader_draw()   # the faithful path iterates its test DataLoader here
        last['exact'] = metrics.rmse(preds, test_r)
        return metrics.book_running_rmse(preds, test_r, batch_size, 1)

    stopper, after_epoch = _stopping(net, trainer, patience, lambda: last['exact'], on_epoch,
                                     lr_decay, decay_at)
    history = _train_epochs(net, step, trainer, ShuffledBatches(len(train_r), batch_size),
                            tensors, settings['num_epochs'], evaluate, 1, devices, plot,
                            progress, figure_path, after_epoch=after_epoch, verbose=verbose)
    stopping.finish(stopper, history)
    history['test_rmse_exact'] = (metrics.rmse(predict(), test_r) if stopper is not None
                                  else last['exact'])
    return history


def fit_autorec(net, loss, trainer, train_mat, test_mat, settings, devices, *, plot=None,
                progress=None, figure_path=None, eval_batch_size=4096, patience=None,
                on_epoch=None, verbose=True, lr_decay=None, decay_at=None):
    """Train AutoRec ``net`` (built and initialised by the caller) on the rows of
    ``train_mat`` (NumPy; item rows, or user rows when user-based), evaluated against
    ``test_mat`` of the same shape; returns the history, with ``test_rmse_exact``.

    Batches as the deck's ``DataLoader(shuffle=True, drop_last=True)``; the loss is the deck's
    summed squared error of the masked output (``loss(net(x), x)``), reported per row.
    ``history['test_rmse']`` is the deck's evaluator: the RMSE over the observed test entries
    of the reconstruction of ``train_mat``, here computed only over the rows that have test
    entries (the others add nothing), summed on the device. ``patience`` (on that RMSE),
    ``on_epoch``, ``verbose``, ``lr_decay``, ``decay_at``: as :func:`fit_mf`.
    """
    device = _check_device(devices)
    net.to(device)
    train_mat = onp.asarray(train_mat, dtype=onp.float32)
    test_mat = onp.asarray(test_mat, dtype=onp.float32)
    if train_mat.shape != test_mat.shape:
        raise ValueError(f'the training matrix has shape {train_mat.shape} but the test matrix '
                         f'{test_mat.shape}')
    rows = onp.flatnonzero((test_mat != 0).any(axis=1))
    count = float((test_mat != 0).sum())
    if count == 0:
        raise ValueError('the test matrix has no observed ratings')
    x_test = torch.as_tensor(train_mat[rows], device=device)
    y_test = torch.as_tensor(test_mat[rows], device=device)
    observed = torch.sign(y_test)
    last = {}

    def step(values):
        ls = loss(net(values), values)
        ls.backward()
        return ls.detach() / values.shape[0]

    def reconstruct():
        net.eval()
        with torch.no_grad():
            return torch.cat([net(x_test[a:a + eval_batch_size])
                              for a in range(0, len(rows), eval_batch_size)])

    def evaluate():
        recons = reconstruct()
        loader_draw()   # the faithful path iterates its test DataLoader here
        last['recons'] = recons
        sse = torch.sum(torch.square(y_test - observed * recons))
        last['rmse'] = math.sqrt(float(sse) / count)
        return last['rmse']

    stopper, after_epoch = _stopping(net, trainer, patience, lambda: last['rmse'], on_epoch,
                                     lr_decay, decay_at)
    history = _train_epochs(net, step, trainer,
                            ShuffledBatches(len(train_mat), settings['batch_size'],
                                            drop_last=True),
                            [torch.as_tensor(train_mat, device=device)],
                            settings['num_epochs'], evaluate, train_mat.shape[1], devices, plot,
                            progress, figure_path, after_epoch=after_epoch, verbose=verbose)
    stopping.finish(stopper, history)
    recons = reconstruct() if stopper is not None else last['recons']
    history['test_rmse_exact'] = metrics.masked_rmse(recons.cpu().numpy(), test_mat[rows])
    return history
