"""Fast paths for the two rating models: the same models, loss, optimizer and batches, sooner.

Book: :numref:`sec_mf` (MF) and :numref:`sec_autorec` (AutoRec). The faithful path
(:mod:`d2l_recsys.models`, :mod:`~d2l_recsys.training`, :mod:`~d2l_recsys.experiments`) stays
the default; ``experiments.train_mf(fast=True)`` / ``train_autorec(fast=True)`` (CLI ``--fast``)
run :func:`train_mf_fast` / :func:`train_autorec_fast` here. What is the same:

* the models: :class:`MF` and :class:`AutoRec` are ``HybridBlock`` twins of the book's blocks,
  with the same children (``P, Q, user_bias, item_bias``; ``encoder, decoder, dropout``) and so
  the same parameter names: ``save_parameters`` files load into either;
* the loss (``gluon.loss.L2Loss``, AutoRec's output masked with ``sign(input)`` in training),
  the optimizer (``gluon.Trainer``, Adam with ``wd``, ``trainer.step(batch_size)``), the
  initialisation (``Normal(0.01)``), the hyper-parameters;
* the data and the batches: the same split (same MXNet random draws after the same seed), and
  the same shuffled batches in the same order as the book's ``DataLoader(shuffle=True,
  last_batch='rollover')`` (:class:`RolloverBatches` replays its sampler, drawing from NumPy's
  generator exactly as it does), each batch split over the devices as ``split_and_load`` does;
* the reported numbers: per epoch the mean over batches of the batch-mean loss, the book's
  evaluators' test RMSE (for MF the book's running mean over test batches and device shards,
  recomputed from the same predictions; for AutoRec the exact RMSE), and at the end the exact
  test RMSE, summed in float64 as :mod:`~d2l_recsys.evaluation` does.

What is faster: the blocks are hybridized (``static_alloc=True, static_shape=True``) together
with the loss, so one batch is one cached graph call forward and one backward; the training
data sits on every device from the start and an epoch's batches are gathered there with one
``take`` and cut as views (no ``DataLoader``, no worker processes, no host copies per batch);
the loss values stay on the device until the epoch ends; evaluation runs the whole test set
in large batches (AutoRec's only over the rows that have test ratings). Only the summation
order inside kernels differs from the faithful run (with the same seed even the dropout masks
are the same), so the results agree to float rounding.

What is not faster: the arithmetic both paths must do. AutoRec's training is dense GEMMs and
Adam's update of all ~0.95 M weights every step; MF's is Adam's update of all ~81 K weights
every step (``adam_update`` takes 4-8 ns per weight on one core here) plus a few dozen small
operators. An MF step is one cached forward, one backward and one ``adam_update`` per
parameter: about 0.8-0.9 ms on the 2-core machine this was measured on, where one imperative
MXNet call costs 50-60 us before any arithmetic. Fusing the four updates into MXNet's
multi-tensor ``multi_adamw_update`` was tried and dropped: it is AdamW (weight decay outside
the moments, so not the book's optimizer without extra operators) and its kernel ran slower
than the four ``adam_update`` calls. The engine (``NaiveEngine``), bulking and worker-thread
settings and a second OpenMP thread were measured too: none made MF's step shorter. AutoRec's input is 94% zeros, but MXNet 1.9's sparse kernels were measured against
its dense ones here (``dot(csr, dense)`` at about 3 G multiply-adds/s, the dense GEMM at about
40 G per core): at 5.7% density the sparse products cost about as much as the dense ones, so
the fast path keeps the book's dense arithmetic. On x86 MXNet 1.9 gives its operators half
the cores unless ``OMP_NUM_THREADS`` is set (one core of a 2-core machine); setting it before
MXNet is imported speeds the GEMMs of both paths on an otherwise idle machine.
"""
import math
import sys
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

# Checks, data reading and labels shared with the faithful path (which imports this module
# lazily, so there is no cycle).
from .experiments import (EXACT, RUNNING_MEAN, _check, _data_info, _prepare, _read_split_load,
                          _train_info)

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['MF', 'AutoRec', 'RolloverBatches', 'train_mf_fast', 'train_autorec_fast',
           'mf_test_rmse', 'autorec_test_rmse', 'book_running_rmse', 'shard_sizes']

HYBRID_FLAGS = dict(static_alloc=True, static_shape=True)



class MF(nn.HybridBlock):
    r"""Matrix factorization (book: :numref:`sec_mf`) as a ``HybridBlock``.

    :math:`\hat{R}_{ui} = \mathbf{p}_u \mathbf{q}_i^\top + b_u + b_i`, trained on the L2 loss
    with weight decay; children ``P``, ``Q``, ``user_bias``, ``item_bias`` as in
    :class:`d2l_recsys.models.MF`, so their parameter files interchange. Call
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
    Children ``encoder``, ``decoder``, ``dropout`` as in :class:`d2l_recsys.models.AutoRec`
    (parameter files interchange). ``in_units`` (optional) lets the parameters be created at
    ``initialize`` instead of at the first call.
    """
    def __init__(self, num_hidden, num_users, dropout=0.05, *, in_units=0):
        super(AutoRec, self).__init__()
        self.encoder = nn.Dense(num_hidden, activation='sigmoid', use_bias=True,
                                in_units=in_units)
        self.decoder = nn.Dense(num_users, use_bias=True, in_units=num_hidden)
        self.dropout = nn.Dropout(dropout)

    def hybrid_forward(self, F, input):
        hidden = self.dropout(self.encoder(input))
        pred = self.decoder(hidden)
        if autograd.is_training():  # Mask the gradient during training
            return pred * F.np.sign(input)
        else:
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


def shard_sizes(n, num_devices):
    """Sizes of the parts ``gluon.utils.split_and_load`` cuts ``n`` rows into."""
    each, extras = divmod(n, num_devices)
    return [each + 1] * extras + [each] * (num_devices - extras)


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
        self.sizes = shard_sizes(batch_size, len(self.devices))
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


def _sync_losses(losses):
    """Per-batch summed losses (device scalars) to one host float64 array, one copy a device."""
    if not losses:
        return onp.zeros(0)
    by_device = list(zip(*losses))
    total = 0.
    for values in by_device:
        total = total + np.stack(list(values)).asnumpy().astype(onp.float64)
    return total


def _train_epochs(net, wrapped, trainer, rows, devices, batch_size, num_epochs, evaluate,
                  examples_per_row, animator, progress):
    """The loop of ``train_recsys_rating`` over device-resident batches.

    Per batch: forward and backward of the hybridized ``net + loss`` on every device shard,
    ``trainer.step(batch_size)``. Per epoch: one host copy of the batch losses, then
    ``evaluate()``. Returns the history dict of :func:`~d2l_recsys.training.train_recsys_rating`.
    """
    sampler = RolloverBatches(len(rows), batch_size)
    resident = _DeviceBatches(rows, devices, batch_size)
    history = {'epoch': [], 'train_loss': [], 'test_rmse': [], 'seconds': [],
               'train_seconds': []}
    if progress is None:
        from .plotting import in_notebook
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
        batch_means = _sync_losses(losses) / batch_size
        train_seconds = time.time() - tic
        test_rmse = evaluate()
        train_l = float(batch_means.sum() / len(batch_means))
        # The book's printed loss: metric.add(l, ...) adds the running sum l every batch.
        printed_sum = float(onp.cumsum(batch_means).sum())
        printed_count = len(batch_means) * batch_size
        examples = len(batch_means) * batch_size * examples_per_row
        if animator is not None:
            animator.add(epoch + 1, (train_l, test_rmse))
        history['epoch'].append(epoch + 1)
        history['train_loss'].append(train_l)
        history['test_rmse'].append(float(test_rmse))
        history['seconds'].append(time.time() - tic)
        history['train_seconds'].append(train_seconds)
        if progress:
            print(f'epoch {epoch + 1}/{num_epochs}: train loss {train_l:.3f}, '
                  f'test RMSE {test_rmse:.3f}, {history["seconds"][-1]:.2f} s',
                  file=sys.stderr, flush=True)
    print(f'train loss {printed_sum / printed_count:.3f}, test RMSE {test_rmse:.3f}')
    # As the book: the last epoch's examples times the epochs over the training time.
    examples_per_sec = examples * num_epochs / sum(history['train_seconds'])
    print(f'{examples_per_sec:.1f} examples/sec on {str(devices)}')
    history['printed_train_loss'] = printed_sum / printed_count
    history['examples_per_sec'] = examples_per_sec
    history['devices'] = [str(d) for d in devices]
    return history


# ----------------------------------------------------------------------------- evaluation

def book_running_rmse(preds, labels, batch_size, num_devices):
    """The book's MF evaluator computed from all the test predictions at once.

    The book iterates the test set in batches of ``batch_size`` (the last one smaller), splits
    each over the devices (``even_split=False``), adds the RMSE of every shard to an
    ``mx.metric.RMSE`` (a mean of shard RMSEs) and returns the mean, over batches, of the
    metric's running value. Same arithmetic here (float32 per shard, as the metric's NumPy).
    """
    preds = onp.asarray(preds, dtype=onp.float32).reshape(-1)
    labels = onp.asarray(labels, dtype=onp.float32).reshape(-1)
    total, count, running = 0., 0, []
    for start in range(0, len(labels), batch_size):
        p, r = preds[start:start + batch_size], labels[start:start + batch_size]
        bounds = onp.cumsum([0] + shard_sizes(len(r), num_devices))
        for a, b in zip(bounds[:-1], bounds[1:]):
            total += float(onp.sqrt(((r[a:b] - p[a:b]) ** 2.0).mean()))
            count += 1
        running.append(total / count)
    return float(onp.mean(onp.array(running, dtype=onp.float32)))


def _chunks(n, devices, eval_batch_size):
    """(device, start, stop) pieces of ``n`` rows: contiguous parts per device, then batches."""
    pieces = []
    start = 0
    for d, size in zip(devices, shard_sizes(n, len(devices))):
        for a in range(start, start + size, eval_batch_size):
            pieces.append((d, a, min(a + eval_batch_size, start + size)))
        start += size
    return pieces


def mf_test_rmse(net, users, items, ratings, devices, *, batch_size=512,
                 eval_batch_size=65536):
    """``(book running-mean RMSE, exact RMSE)`` of an MF-style model on test triples.

    Predicts every test rating in batches of ``eval_batch_size`` spread over ``devices``
    (one host copy per batch), then computes the book evaluator's number
    (:func:`book_running_rmse`, with the book's test ``batch_size``) and the exact RMSE in
    float64. ``users``/``items`` are 0-based ids (host arrays); ``net`` may be either MF.
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
    diff = ratings.astype(onp.float64) - preds.astype(onp.float64)
    exact = math.sqrt(float((diff * diff).mean()))
    return book_running_rmse(preds, ratings, batch_size, len(devices)), exact


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
        self.pieces = []
        for d, a, b in _chunks(len(rows), devices, eval_batch_size):
            test = np.array(test_mat[a:b], ctx=d)
            self.pieces.append((np.array(train_mat[a:b], ctx=d), test, np.sign(test)))
        self.count = float((test_mat != 0).sum())
        if self.count == 0:
            raise ValueError('autorec_test_rmse: the test matrix has no observed ratings')

    def sse(self, net, dtype=None):
        """Per piece, the sum of squared errors on the observed test entries (device)."""
        out = []
        for x, test, observed in self.pieces:
            recons = net(x)
            err = test - observed * recons
            if dtype is not None:
                err = err.astype(dtype)
            out.append(np.sum(np.square(err)))
        return out

    def rmse(self, net):
        # The book's formula, in float32 on the device: sqrt(sum(sq err) / count).
        return math.sqrt(sum(float(s) for s in self.sse(net)) / self.count)

    def rmse_float64(self, net):
        return math.sqrt(sum(float(s) for s in self.sse(net, 'float64')) / self.count)


def autorec_test_rmse(net, train_mat, test_mat, devices, *, eval_batch_size=4096):
    """The book's AutoRec evaluator (exact test RMSE) in large batches spread over devices.

    ``train_mat`` is the model's input matrix (rows reconstructed), ``test_mat`` the test
    interaction matrix of the same shape (host or MXNet arrays).
    """
    train_mat, test_mat = _host(train_mat), _host(test_mat)
    return _AutoRecTest(train_mat, test_mat, list(devices), eval_batch_size).rmse(net)


def _host(a):
    return a.asnumpy() if hasattr(a, 'asnumpy') else onp.asarray(a)


# ----------------------------------------------------------------------------- experiments

def _animator(plot, figure_path, num_epochs):
    if plot is None and figure_path is None:
        from .plotting import in_notebook
        if not in_notebook():
            return None
    from .training import _resolve_plot   # the faithful loop's plot, the book's axes
    return _resolve_plot(plot, num_epochs)


def _finish(history, animator, figure_path):
    if figure_path is not None:
        history['figure'] = animator.save(figure_path)
    return history


def train_mf_fast(*, num_factors=30, lr=0.002, wd=1e-5, batch_size=512, num_epochs=20,
                  split_mode='seq-aware', test_ratio=0.1, devices=None, seed=None,
                  data_dir=None, plot=None, figure_path=None, progress=None,
                  eval_batch_size=65536):
    """:func:`d2l_recsys.experiments.train_mf` on the fast path; same arguments and result.

    Same data, split, initialisation, optimizer and batches as the book's MF cell (see the
    module docstring); returns ``(net, history, info)`` with a :class:`MF` (hybridized) as
    ``net``. ``history['test_rmse']`` is the book evaluator's running mean,
    ``history['test_rmse_exact']`` the test-set RMSE. ``progress`` as in the faithful loop
    (None: a line per epoch on stderr outside Jupyter). Extra: ``eval_batch_size`` (test
    ratings per forward pass).
    """
    _check('num_factors', num_factors, int(num_factors) == num_factors and num_factors >= 1,
           'a positive integer')
    devices = _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed)
    folder, num_users, num_items, train, test = _read_split_load(
        data_dir, split_mode, test_ratio)
    train_u, train_i, train_r, _ = train
    test_u, test_i, test_r, _ = test
    net = MF(num_factors, num_users, num_items)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    net.hybridize(**HYBRID_FLAGS)
    wrapped = _SumLoss(net, gluon.loss.L2Loss(), columns=3)
    wrapped.hybridize(**HYBRID_FLAGS)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {"learning_rate": lr, 'wd': wd})
    rows = onp.stack([onp.asarray(train_u, onp.float32), onp.asarray(train_i, onp.float32),
                      onp.asarray(train_r, onp.float32)], axis=1)
    test = (onp.asarray(test_u), onp.asarray(test_i), onp.asarray(test_r, onp.float32))
    last = {}

    def evaluate():
        last['book'], last['exact'] = mf_test_rmse(net, *test, devices, batch_size=batch_size,
                                                   eval_batch_size=eval_batch_size)
        return last['book']

    animator = _animator(plot, figure_path, num_epochs)
    history = _train_epochs(net, wrapped, trainer, rows, devices, int(batch_size),
                            int(num_epochs), evaluate, 1, animator, progress)
    history['test_rmse_exact'] = last['exact']
    history['test_rmse_kind'] = RUNNING_MEAN
    info = {'model': 'mf', 'num_users': num_users, 'num_items': num_items,
            'hparams': {'num_factors': int(num_factors)},
            'train': _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio),
            'seed': seed, 'fast': True, **_data_info(folder, train, test)}
    return net, _finish(history, animator, figure_path), info


def train_autorec_fast(*, num_hidden=500, lr=0.002, wd=1e-5, batch_size=256, num_epochs=25,
                       split_mode='random', test_ratio=0.1, user_based=False, devices=None,
                       seed=None, data_dir=None, plot=None, figure_path=None, progress=None,
                       eval_batch_size=4096):
    """:func:`d2l_recsys.experiments.train_autorec` on the fast path; same arguments and result.

    Item-based by default (rows of the ``(num_items, num_users)`` matrix), ``user_based=True``
    for the paper's other variant. Returns ``(net, history, info)`` with an :class:`AutoRec`
    (hybridized) as ``net``; ``history['test_rmse']`` and ``['test_rmse_exact']`` are both the
    exact test RMSE (the book's AutoRec evaluator is exact; the latter summed in float64).
    ``progress`` as in :func:`train_mf_fast`. Extra: ``eval_batch_size`` (rows per forward pass
    when evaluating).
    """
    _check('num_hidden', num_hidden, int(num_hidden) == num_hidden and num_hidden >= 1,
           'a positive integer')
    devices = _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed)
    folder, num_users, num_items, train, test = _read_split_load(
        data_dir, split_mode, test_ratio)
    train_mat, test_mat = _host(train[3]), _host(test[3])
    if user_based:
        train_mat, test_mat = train_mat.T.copy(), test_mat.T.copy()
    width = train_mat.shape[1]
    net = AutoRec(num_hidden, width, in_units=width)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    net.hybridize(**HYBRID_FLAGS)
    wrapped = _SumLoss(net, gluon.loss.L2Loss())
    wrapped.hybridize(**HYBRID_FLAGS)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {"learning_rate": lr, 'wd': wd})
    tester = _AutoRecTest(train_mat, test_mat, devices, int(eval_batch_size))
    animator = _animator(plot, figure_path, num_epochs)
    history = _train_epochs(net, wrapped, trainer, train_mat.astype(onp.float32), devices,
                            int(batch_size), int(num_epochs), lambda: tester.rmse(net), width,
                            animator, progress)
    history['test_rmse_exact'] = tester.rmse_float64(net)
    history['test_rmse_kind'] = EXACT
    info = {'model': 'autorec', 'num_users': num_users, 'num_items': num_items,
            'hparams': {'num_hidden': int(num_hidden), 'dropout': 0.05},
            'user_based': bool(user_based),
            'train': _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio),
            'seed': seed, 'fast': True, **_data_info(folder, train, test)}
    return net, _finish(history, animator, figure_path), info
