"""The fast path of the MXNet tab: the same models, loss, optimizer and batches, sooner.

``train_mf(fast=True)`` / ``train_autorec(fast=True)`` (CLI ``--fast``) of
:mod:`d2l_recsys.mxnet.experiments` check, seed and read the data as the faithful path does,
then train here with :func:`fit_mf` / :func:`fit_autorec`. What stays the same: the models
(:class:`MF` and :class:`AutoRec` are ``HybridBlock`` twins of the book's blocks with the same
parameter names, so parameter files interchange), the L2 loss with AutoRec's output masked by
``sign(input)`` in training, Adam with ``wd`` and ``trainer.step(batch_size)``, ``Normal(0.01)``
initialisation, and the batches: :class:`RolloverBatches` replays the book's
``DataLoader(shuffle=True, last_batch='rollover')`` from NumPy's generator, and each batch is
split over the devices as ``split_and_load`` does. The reported numbers are the book's
evaluators', recomputed from the same predictions (:mod:`d2l_recsys.metrics`).

What is faster: the blocks are hybridized together with the loss (one cached graph forward and
one backward per batch); the training rows sit on every device from the start and an epoch's
batches are gathered there with one ``take`` and cut as views; the losses stay on the device
until the epoch ends; evaluation runs in large batches (AutoRec's only over rows that have test
ratings). Only the summation order inside kernels differs, so the results agree with the
faithful path to float rounding. docs/speed.md has the measurements, and what was tried and
dropped.
"""
import math
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

from .. import metrics, stopping
from ..defaults import RATING_SCALE
from ..experiments import finish_history, new_history, non_finite_error, record_epoch
from ..plotting import in_notebook
from ..checks import autorec_arguments

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['MF', 'AutoRec', 'RolloverBatches', 'EarlyStopping', 'fit_mf', 'fit_autorec',
           'sync_losses',
           'mf_test_rmse', 'autorec_test_rmse', 'autorec_rmse_exact']

HYBRID_FLAGS = dict(static_alloc=True, static_shape=True)



class MF(nn.HybridBlock):
    r"""Matrix factorization (book: :numref:`sec_mf`) as a ``HybridBlock``.

    :math:`\hat{R}_{ui} = \mathbf{p}_u \mathbf{q}_i^\top + b_u + b_i`, trained on the L2 loss
    with weight decay; children ``P``, ``Q``, ``user_bias``, ``item_bias`` as in
    :class:`d2l_recsys.mxnet.mf.MF`, so their parameter files interchange. Call
    ``hybridize(static_alloc=True, static_shape=True)`` for speed.
    """
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super(MF, self).__init__(**kwargs)
        self.P = nn.Embedding(input_dim=num_users, output_dim=num_factors)
        self.Q = nn.Embedding(input_dim=num_items, output_dim=num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)

    def hybrid_forward(self, F, user_id, item_id):
        P_u = self.P(user_id)
        Q_i = self.Q(item_id)
        b_u = self.user_bias(user_id)
        b_i = self.item_bias(item_id)
        outputs = (P_u * Q_i).sum(axis=1) + F.np.squeeze(b_u) + F.np.squeeze(b_i)
        return outputs.flatten()


class _ModeCache:
    """Keep one cached graph per ``autograd.is_training()`` value.

    A hybridized block records its Python branches once, when it is first called; AutoRec's
    output depends on the training mode, so each mode gets its own cached graph, built the
    first time the block is called in that mode.
    """
    _STATE = ('_cached_graph', '_cached_op', '_cached_op_args', '_in_format', '_out_format')

    def forward(self, x, *args):
        if self._active and not isinstance(x, mx.sym.Symbol):
            mode = bool(autograd.is_training())
            current = self.__dict__.get('_fast_mode')
            if current != mode:
                saved = self.__dict__.setdefault('_fast_saved', {})
                if current is not None:
                    saved[current] = tuple(getattr(self, k, None) for k in self._STATE)
                if mode in saved:
                    for k, v in zip(self._STATE, saved.pop(mode)):
                        object.__setattr__(self, k, v)
                else:
                    super()._clear_cached_op()
                object.__setattr__(self, '_fast_mode', mode)
        return super().forward(x, *args)

    def _clear_cached_op(self):
        super()._clear_cached_op()
        self.__dict__.pop('_fast_saved', None)
        self.__dict__.pop('_fast_mode', None)


class AutoRec(_ModeCache, nn.HybridBlock):
    r"""AutoRec (book: :numref:`sec_autorec`) as a ``HybridBlock``.

    :math:`h(\mathbf{R}_{*i}) = f(\mathbf{W} \cdot g(\mathbf{V} \mathbf{R}_{*i} + \mu) + b)`
    with :math:`g` the sigmoid, :math:`f` the identity and dropout after the encoder; while
    ``autograd.is_training()`` the output is multiplied by :math:`\operatorname{sign}
    (\mathbf{R}_{*i})`, so only observed ratings contribute to the loss and the gradients.
    Children ``encoder``, ``decoder``, ``dropout`` as in :class:`d2l_recsys.mxnet.autorec.AutoRec`
    (parameter files interchange). ``in_units`` (optional) lets the parameters be created at
    ``initialize`` instead of at the first call. ``hidden_layers``, ``encoder_activation``,
    ``decoder_activation``, ``hidden_activation``: the exercises' extras, as in the book-shaped
    class; the defaults give the book's model. ``input_dropout``: while training, drop each
    observed input rating with this probability (the rest scaled by :math:`1/(1-p)`), while
    the loss still covers every observed rating, so the model learns to fill in ratings it
    was not shown (denoising); 0, the book's, drops none. It has no parameters: a model
    trained with it predicts and saves as any other.
    ``clip=True``: outside training, predictions are clipped to the rating scale
    (:data:`~d2l_recsys.defaults.RATING_SCALE`), which can only bring each one closer to a
    rating; training is unchanged. The book's model does not clip.
    """
    def __init__(self, num_hidden, num_users, dropout=0.05, *, in_units=0, hidden_layers=(),
                 encoder_activation='sigmoid', decoder_activation=None,
                 hidden_activation='encoder', input_dropout=0., clip=False):
        super(AutoRec, self).__init__()
        # The exercises' extras, as in the book-shaped class (same checks, same child names).
        a = autorec_arguments(num_hidden, num_users, dropout, hidden_layers=hidden_layers,
                              encoder_activation=encoder_activation,
                              decoder_activation=decoder_activation,
                              hidden_activation=hidden_activation,
                              input_dropout=input_dropout, clip=clip)
        self._clip, self._input_dropout = a.clip, a.input_dropout
        hidden_layers = a.hidden_layers
        self.encoder = nn.Dense(a.num_hidden, activation=a.encoder_activation, use_bias=True,
                                in_units=in_units)
        self.dropout = nn.Dropout(a.dropout)
        self._hidden_names = tuple(f'hidden{j}' for j in range(len(hidden_layers)))
        units_in = a.num_hidden
        for name, units in zip(self._hidden_names, hidden_layers):
            setattr(self, name, nn.Dense(units, activation=a.hidden_activation, use_bias=True,
                                         in_units=units_in))
            units_in = units
        self.decoder = nn.Dense(a.num_users, activation=a.decoder_activation, use_bias=True,
                                in_units=units_in)

    def hybrid_forward(self, F, input):
        # Dropout is the identity outside training (npx.dropout reads the training mode).
        shown = F.npx.dropout(input, p=self._input_dropout) if self._input_dropout else input
        hidden = self.dropout(self.encoder(shown))
        for name in self._hidden_names:
            hidden = getattr(self, name)(hidden)
        pred = self.decoder(hidden)
        if autograd.is_training():  # Mask the gradient during training
            return pred * F.np.sign(input)
        if self._clip:
            return F.np.clip(pred, *RATING_SCALE)
        return pred


class _SumLoss(nn.HybridBlock):
    """``loss(net(*features), label).sum()`` as one block, so that it is one cached graph.

    Back-propagating the sum gives the same gradients as the book's ``l.backward()`` on the
    vector of per-example losses (head gradient one for every example). ``columns``: the
    inputs come as one float32 array with the features and the label as columns (MF's
    ``user, item, rating``: ids below 2**24 are exact in float32, and ``Embedding`` reads
    float ids as the book's DataLoader batches are float32 too); otherwise the label is the
    input itself (AutoRec reconstructs its input).
    """
    def __init__(self, net, loss, columns=0):
        super(_SumLoss, self).__init__()
        self.net = net
        self.loss = loss
        self._columns = columns

    def hybrid_forward(self, F, x):
        if self._columns:
            cols = F.np.split(x, self._columns, axis=1)
            cols = [F.np.squeeze(c, axis=1) for c in cols]
            return self.loss(self.net(*cols[:-1]), cols[-1]).sum()
        return self.loss(self.net(x), x).sum()


class _MFRegLoss(_SumLoss):
    r"""MF's summed L2 loss plus a penalty on the factor rows each rating touches:

    .. math:: \sum_{(u,i) \in B} \tfrac12 (R_{ui} - \hat R_{ui})^2 + \tfrac{\lambda}{2}
              (\|\mathbf{p}_u\|^2 + \|\mathbf{q}_i\|^2),

    the regularisation of the book's objective applied per observed rating, as stochastic
    gradient MF usually does (``wd`` instead decays every row at every step, rated or not).
    The biases are left out: without a global mean in the model they carry the ratings'
    average of about 3.5, which a penalty would pull towards zero.
    """
    def __init__(self, net, loss, reg):
        super(_MFRegLoss, self).__init__(net, loss, columns=3)
        self._reg = float(reg)

    def hybrid_forward(self, F, x):
        u, i, r = [F.np.squeeze(c, axis=1) for c in F.np.split(x, 3, axis=1)]
        net = self.net
        penalty = F.np.square(net.P(u)).sum() + F.np.square(net.Q(i)).sum()
        return self.loss(net(u, i), r).sum() + 0.5 * self._reg * penalty


class RolloverBatches:
    """The batches of ``DataLoader(data, batch_size, shuffle=True, last_batch='rollover')``.

    Replays gluon's ``BatchSampler(RandomSampler(n), batch_size, 'rollover')`` an epoch at a
    time: the rows left over from the previous epoch come first, then a fresh permutation drawn
    as ``RandomSampler`` draws it (``numpy.random.shuffle`` of ``arange(n)``, NumPy's global
    generator), cut into full batches; the rest rolls over to the next epoch. With the same
    NumPy seed the batches are the book's, in the book's order.
    """
    def __init__(self, n, batch_size):
        if batch_size < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        self.n, self.batch_size = int(n), int(batch_size)
        self._prev = onp.zeros(0, dtype=onp.int64)

    def epoch(self):
        """Row indices of this epoch's batches, shape ``(num_batches, batch_size)``."""
        indices = onp.arange(self.n)
        onp.random.shuffle(indices)
        seq = onp.concatenate([self._prev, indices])
        k = len(seq) // self.batch_size
        self._prev = seq[k * self.batch_size:]
        return seq[:k * self.batch_size].reshape(k, self.batch_size)


class _DeviceBatches:
    """Training rows resident on every device; an epoch's per-device batches gathered there.

    ``rows`` (host array, first axis = examples) is copied once to each device. For an epoch,
    device ``k`` receives only the index list of its shard of every batch (the part
    ``split_and_load`` would send it), gathers them there with one ``take`` and cuts the
    result into batches as views.
    """
    def __init__(self, rows, devices, batch_size):
        self.devices = list(devices)
        self.sizes = metrics.shard_sizes(batch_size, len(self.devices))
        self.bounds = onp.cumsum([0] + self.sizes)
        self.data = [np.array(rows, dtype=rows.dtype, ctx=d) for d in self.devices]

    def epoch(self, index_batches):
        """List over batches of lists over devices of device-resident batch shards."""
        per_device = []
        for k, (d, data) in enumerate(zip(self.devices, self.data)):
            if self.sizes[k] == 0:
                raise ValueError(f'batch size {int(self.bounds[-1])} leaves no examples for '
                                 f'{d} ({len(self.devices)} devices)')
            idx = index_batches[:, self.bounds[k]:self.bounds[k + 1]].reshape(-1)
            rows = data.take(np.array(idx, dtype='int32', ctx=d), axis=0)
            # Slices along the first axis are views (no copy, no operator), unlike np.split.
            s = self.sizes[k]
            per_device.append([rows[b * s:(b + 1) * s] for b in range(len(index_batches))])
        return list(zip(*per_device))


def sync_losses(losses):
    """Per-batch summed losses (device scalars, a list per batch of one per device) to one host
    float64 array, one copy a device; each batch's values are added in device order."""
    if not losses:
        return onp.zeros(0)
    by_device = list(zip(*losses))
    total = 0.
    for values in by_device:
        total = total + np.stack(list(values)).asnumpy().astype(onp.float64)
    return total


def _train_epochs(net, wrapped, trainer, rows, devices, batch_size, num_epochs, evaluate,
                  examples_per_row, animator, progress, after_epoch=None, verbose=True):
    """The loop of ``train_recsys_rating`` over device-resident batches.

    Per batch: forward and backward of the hybridized ``net + loss`` on every device shard,
    ``trainer.step(batch_size)``. Per epoch: one host copy of the batch losses, then
    ``evaluate()``, then ``after_epoch(epoch, history)`` (when given), which returns True to
    stop early. ``verbose=False`` drops the book's two closing lines. Returns the history dict
    of :func:`~d2l_recsys.mxnet.mf.train_recsys_rating`.
    """
    sampler = RolloverBatches(len(rows), batch_size)
    resident = _DeviceBatches(rows, devices, batch_size)
    history = new_history()
    if progress is None:
        progress = not in_notebook()
    printed_sum, printed_count, examples = 0., 0, 0
    for epoch in range(num_epochs):
        tic = time.time()
        index_batches = sampler.epoch()
        if len(index_batches) == 0:
            raise ValueError(f'epoch {epoch + 1}: the training data ({len(rows)} rows) gives no '
                             f'full batch of {batch_size} (last_batch="rollover")')
        losses = []
        for shards in resident.epoch(index_batches):
            with autograd.record():
                ls = [wrapped(x) for x in shards]
            for l in ls:
                l.backward()
            trainer.step(batch_size)
            losses.append(ls)
        # The book adds sum over devices of the per-example losses, .mean(), / len(devices)
        # for every batch: that is the batch's summed loss over batch_size.
        batch_means = sync_losses(losses) / batch_size
        if not onp.isfinite(batch_means).all():
            bad = batch_means[~onp.isfinite(batch_means)][0]
            raise non_finite_error('loss', bad, epoch, trainer.learning_rate)
        train_seconds = time.time() - tic
        test_rmse = evaluate()
        if not onp.isfinite(test_rmse):
            raise non_finite_error('test RMSE', test_rmse, epoch, trainer.learning_rate)
        train_l = float(batch_means.sum() / len(batch_means))
        # The book's printed loss: metric.add(l, ...) adds the running sum l every batch.
        printed_sum = float(onp.cumsum(batch_means).sum())
        printed_count = len(batch_means) * batch_size
        examples = len(batch_means) * batch_size * examples_per_row
        if animator is not None:
            animator.add(epoch + 1, (train_l, test_rmse))
        record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic, train_seconds,
                     progress, digits=2)
        if after_epoch is not None and after_epoch(epoch + 1, history):
            break
    # As the book: the last epoch's examples times the epochs over the training time.
    examples_per_sec = examples * len(history['epoch']) / sum(history['train_seconds'])
    return finish_history(history, printed_sum / printed_count, test_rmse, examples_per_sec,
                          devices, verbose=verbose)


class EarlyStopping(stopping.EarlyStopping):
    """:class:`d2l_recsys.stopping.EarlyStopping` for a Gluon block: the copies of the best
    epoch's parameters stay on the devices (one ``copy()`` per parameter and device when the
    held-out RMSE improves)."""
    def __init__(self, net, patience, min_delta=0.):
        super().__init__(patience, min_delta)
        self.net = net

    def snapshot(self):
        return {name: [a.copy() for a in p.list_data()]
                for name, p in self.net.collect_params().items()}

    def load(self, saved):
        """Put the saved parameters back into the net (every device)."""
        for name, p in self.net.collect_params().items():
            for dst, src in zip(p.list_data(), saved[name]):
                src.copyto(dst)


def _stopping(net, patience, rmse_of, on_epoch, trainer=None, lr_decay=None, decay_at=None):
    """The ``after_epoch`` hook of the fits and its :class:`EarlyStopping` (None without
    ``patience``): :func:`d2l_recsys.stopping.after_epoch_hook`, with the decay applied to
    ``trainer``'s learning rate."""
    stopper = EarlyStopping(net, patience) if patience else None
    stopping.check_lr_decay(lr_decay, patience, decay_at)

    def scale_lr(factor):
        trainer.set_learning_rate(trainer.learning_rate * factor)
    return stopper, stopping.after_epoch_hook(stopper, rmse_of, on_epoch, scale_lr=scale_lr,
                                              lr_decay=lr_decay, decay_at=decay_at)


# ----------------------------------------------------------------------------- evaluation

def _chunks(n, devices, eval_batch_size):
    """(device, start, stop) pieces of ``n`` rows: contiguous parts per device, then batches."""
    pieces = []
    start = 0
    for d, size in zip(devices, metrics.shard_sizes(n, len(devices))):
        for a in range(start, start + size, eval_batch_size):
            pieces.append((d, a, min(a + eval_batch_size, start + size)))
        start += size
    return pieces


def mf_test_rmse(net, users, items, ratings, devices, *, batch_size=512,
                 eval_batch_size=65536):
    """``(book running-mean RMSE, exact RMSE)`` of an MF-style model on test triples.

    Predicts every test rating in batches of ``eval_batch_size`` spread over ``devices``
    (one host copy per batch), then computes the book evaluator's number
    (:func:`d2l_recsys.metrics.book_running_rmse`, with the book's test ``batch_size``) and
    the exact RMSE (:func:`d2l_recsys.metrics.rmse`). ``users``/``items`` are 0-based ids (host arrays); ``net`` may be either MF.
    """
    users = onp.asarray(users, dtype=onp.float32)
    items = onp.asarray(items, dtype=onp.float32)
    ratings = onp.asarray(ratings, dtype=onp.float32)
    if len(ratings) == 0:
        raise ValueError('mf_test_rmse: no test ratings')
    preds = []
    for d, a, b in _chunks(len(ratings), devices, eval_batch_size):
        preds.append(net(np.array(users[a:b], ctx=d), np.array(items[a:b], ctx=d)))
    preds = onp.concatenate([p.asnumpy().reshape(-1) for p in preds])
    exact = metrics.rmse(preds, ratings)
    return metrics.book_running_rmse(preds, ratings, batch_size, len(devices)), exact


class _AutoRecTest:
    """The training matrix and the test matrix on the devices, for repeated evaluation.

    The book reconstructs every row and sums the squared errors over the observed test
    entries; rows without any test entry add nothing, so only the others are kept (about 74%
    of the items of a random 10% split: a quarter less work per evaluation, same number).
    Each device holds a contiguous block of them, so an evaluation is one forward pass per
    block and per ``eval_batch_size`` rows, and one scalar per block comes back to the host.
    """
    def __init__(self, train_mat, test_mat, devices, eval_batch_size):
        if train_mat.shape != test_mat.shape:
            raise ValueError(f'autorec_test_rmse: the input matrix has shape {train_mat.shape} '
                             f'but the test matrix {test_mat.shape}')
        rows = onp.flatnonzero((test_mat != 0).any(axis=1))
        train_mat, test_mat = train_mat[rows], test_mat[rows]
        self.test_rows = test_mat
        self.pieces = []
        for d, a, b in _chunks(len(rows), devices, eval_batch_size):
            test = np.array(test_mat[a:b], ctx=d)
            self.pieces.append((np.array(train_mat[a:b], ctx=d), test, np.sign(test)))
        self.count = float((test_mat != 0).sum())
        if self.count == 0:
            raise ValueError('autorec_test_rmse: the test matrix has no observed ratings')

    def sse(self, net):
        """Per piece, the sum of squared errors on the observed test entries (device)."""
        out = []
        for x, test, observed in self.pieces:
            recons = net(x)
            out.append(np.sum(np.square(test - observed * recons)))
        return out

    def rmse(self, net):
        # The book's formula, in float32 on the device: sqrt(sum(sq err) / count).
        return math.sqrt(sum(float(s) for s in self.sse(net)) / self.count)

    def rmse_exact(self, net):
        """The exact RMSE (:func:`d2l_recsys.metrics.masked_rmse`) of the kept rows, which is
        that of the whole matrix: the rows without test entries add nothing to it."""
        recons = onp.concatenate([net(x).asnumpy() for x, _, _ in self.pieces])
        return metrics.masked_rmse(recons, self.test_rows)


def autorec_rmse_exact(net, train_mat, test_mat, devices, *, eval_batch_size=4096):
    """The exact test RMSE (:func:`d2l_recsys.metrics.masked_rmse`, float64) of an AutoRec
    reconstructing ``train_mat``, read at the observed entries of ``test_mat``."""
    train_mat, test_mat = _host(train_mat), _host(test_mat)
    return _AutoRecTest(train_mat, test_mat, list(devices), eval_batch_size).rmse_exact(net)


def autorec_test_rmse(net, train_mat, test_mat, devices, *, eval_batch_size=4096):
    """The book's AutoRec evaluator (exact test RMSE) in large batches spread over devices.

    ``train_mat`` is the model's input matrix (rows reconstructed), ``test_mat`` the test
    interaction matrix of the same shape (host or MXNet arrays).
    """
    train_mat, test_mat = _host(train_mat), _host(test_mat)
    return _AutoRecTest(train_mat, test_mat, list(devices), eval_batch_size).rmse(net)


def _host(a):
    return a.asnumpy() if hasattr(a, 'asnumpy') else onp.asarray(a)


# ----------------------------------------------------------------------------- the two models

def fit_mf(settings, run_data, devices, *, animator=None, progress=None,
           eval_batch_size=65536, optimizer='adam', patience=None, on_epoch=None,
           verbose=True, reg=0., lr_decay=None, decay_at=None):
    """Train the book's MF on ``run_data`` with ``settings`` (checked, as
    :func:`d2l_recsys.experiments.check_settings` returns them); returns ``(net, history)``.

    ``history`` as the book's loop records it, plus ``test_rmse_exact``; ``net`` is the
    hybridized :class:`MF`. ``eval_batch_size``: test ratings per forward pass.
    ``optimizer``: the Gluon optimizer's name (the book's ``'adam'``; the first exercise tries
    others), with ``settings``' ``lr`` and ``wd``. ``patience``: early stopping on the exact
    RMSE of ``run_data.test`` (give it a validation set, never the test set, when choosing
    epochs): stop after ``patience`` epochs without improvement and restore the best epoch
    (:class:`EarlyStopping`; ``history['best_epoch']``, and ``test_rmse_exact`` is then the
    best epoch's). ``on_epoch(epoch, rmse)``: called after every epoch with that exact RMSE.
    ``verbose=False``: no closing lines on stdout. ``reg``: the weight of a penalty on the rows
    each training rating touches (:class:`_MFRegLoss`; 0, the book's, adds none).
    ``lr_decay``: a factor for the learning rate when the held-out RMSE stalls (needs
    ``patience``, or ``decay_at``, the epochs after which to decay; see
    :func:`d2l_recsys.stopping.after_epoch_hook`).
    """
    s = settings
    train_u, train_i, train_r, _ = run_data.train
    test_u, test_i, test_r, _ = run_data.test
    net = MF(s['num_factors'], run_data.num_users, run_data.num_items)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    net.hybridize(**HYBRID_FLAGS)
    wrapped = (_MFRegLoss(net, gluon.loss.L2Loss(), reg) if reg
               else _SumLoss(net, gluon.loss.L2Loss(), columns=3))
    wrapped.hybridize(**HYBRID_FLAGS)
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            {"learning_rate": s['lr'], 'wd': s['wd']})
    rows = onp.stack([onp.asarray(train_u, onp.float32), onp.asarray(train_i, onp.float32),
                      onp.asarray(train_r, onp.float32)], axis=1)
    test = (onp.asarray(test_u), onp.asarray(test_i), onp.asarray(test_r, onp.float32))
    last = {}

    def evaluate():
        last['book'], last['exact'] = mf_test_rmse(net, *test, devices,
                                                   batch_size=s['batch_size'],
                                                   eval_batch_size=eval_batch_size)
        return last['book']

    stopper, after_epoch = _stopping(net, patience, lambda: last['exact'], on_epoch, trainer,
                                     lr_decay, decay_at)
    history = _train_epochs(net, wrapped, trainer, rows, devices, s['batch_size'],
                            s['num_epochs'], evaluate, 1, animator, progress,
                            after_epoch=after_epoch, verbose=verbose)
    stopping.finish(stopper, history)
    history['test_rmse_exact'] = (mf_test_rmse(net, *test, devices)[1] if stopper is not None
                                  else last['exact'])
    return net, history


def fit_autorec(settings, run_data, devices, *, user_based=False, animator=None,
                progress=None, eval_batch_size=4096, optimizer='adam', patience=None,
                on_epoch=None, verbose=True, lr_decay=None, decay_at=None, **layers):
    """Train the book's AutoRec (item-based, or ``user_based``) on ``run_data``; returns
    ``(net, history)`` as :func:`fit_mf`. ``history['test_rmse']`` is the book's evaluator
    (exact, summed in float32 on the devices); ``eval_batch_size``: rows per forward pass.
    ``optimizer``, ``patience``, ``on_epoch``, ``verbose``, ``lr_decay``, ``decay_at``: as
    :func:`fit_mf`.
    ``layers``:
    the exercises' ``hidden_layers``, ``encoder_activation``, ``decoder_activation``,
    ``hidden_activation``, and ``input_dropout`` (see :class:`AutoRec`).
    """
    s = settings
    train_mat, test_mat = _host(run_data.train[3]), _host(run_data.test[3])
    if user_based:
        train_mat, test_mat = train_mat.T.copy(), test_mat.T.copy()
    width = train_mat.shape[1]
    net = AutoRec(s['num_hidden'], width, s['dropout'], in_units=width, **layers)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    net.hybridize(**HYBRID_FLAGS)
    wrapped = _SumLoss(net, gluon.loss.L2Loss())
    wrapped.hybridize(**HYBRID_FLAGS)
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            {"learning_rate": s['lr'], 'wd': s['wd']})
    tester = _AutoRecTest(train_mat, test_mat, devices, int(eval_batch_size))
    stopper, after_epoch = _stopping(net, patience, lambda: history_rmse[-1], on_epoch,
                                     trainer, lr_decay, decay_at)
    history_rmse = []

    def evaluate():
        history_rmse.append(tester.rmse(net))
        return history_rmse[-1]

    history = _train_epochs(net, wrapped, trainer, train_mat.astype(onp.float32), devices,
                            s['batch_size'], s['num_epochs'], evaluate, width,
                            animator, progress, after_epoch=after_epoch, verbose=verbose)
    stopping.finish(stopper, history)
    history['test_rmse_exact'] = tester.rmse_exact(net)
    return net, history
