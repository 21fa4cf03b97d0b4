r"""The fast path of the ranking half in the MXNet tab: the same models, losses, optimizer,
batches and negatives as the book's NeuMF and Caser cells, in seconds instead of an hour.

``train_neumf(fast=True)`` / ``train_caser(fast=True)`` (CLI ``--fast``) of
:mod:`d2l_recsys.mxnet.experiments` check, seed and read the data as the faithful path does,
then train here with :func:`fit_neumf` / :func:`fit_caser`. Beyond the book, for the tuned
presets (:mod:`d2l_recsys.rank_tuning`): NeuMF's ``output='logit'``, Caser's softmax loss
(:class:`_CaserSoftmaxLoss`, this path only: the book's ``train_ranking`` takes a pairwise
loss) and early stopping on the held-out items' exact HR@10 (``patience``).

What stays the same:

* the models: :class:`NeuMF` and :class:`Caser` are ``HybridBlock`` twins of the book's blocks
  with the same parameter names and shapes (parameter files interchange) and the same
  ``Normal(0.01)`` draws: NeuMF's layer sizes are given, so its weights are drawn at
  ``initialize`` in the order the book's deferred initialisation draws them at the first batch;
* the batches: :class:`~d2l_recsys.mxnet.fast.RolloverBatches` replays the book's
  ``DataLoader(shuffle=True, last_batch='rollover')`` from NumPy's generator;
* the negatives: :class:`d2l_recsys.rank_data.NegativeSampler` makes, for every example in
  the DataLoader's order, the book's ``random.randint`` draw from Python's generator and takes
  the book's item for it: **the same samples for the same random draws** (the book's DataLoader
  with ``num_workers=0``; with worker processes the book's draws are not reproducible at all);
* Caser's training windows: :func:`d2l_recsys.rank_data.seq_windows`, the book's
  ``SeqDataset`` arrays element for element; Caser's dropout: two masks per batch, for the
  positive and the negative item, drawn in the book's order;
* the loss (the book's BPR or hinge, summed over the batch), Adam with ``wd`` and
  ``trainer.step(batch_size)``, and what is printed: the book's two lines of
  ``train_ranking``, its hit rate and AUC
  (:func:`d2l_recsys.rank_metrics.book_hit_and_auc`: the book's evaluator, the same numbers
  for the same scores).

What is faster: no set difference per example (the lists are made once per user); the
epoch's batches sit on the devices and are cut as views; the model and the loss run as one
cached graph per batch; the losses come back once per epoch; evaluation scores every user and
item at once from the models' parts instead of a DataLoader per user
(:mod:`d2l_recsys.rank_scores`: NeuMF's GMF part is one matrix product and its first MLP layer
splits into a user part and an item part; Caser's sequence part runs once per user and scores
every item with one matrix product); and Caser's convolutions run as matrix products over a
window's embeddings (``Conv2D`` on these one-channel 5 x 10 images, and above all its
backward pass, is slow on a CPU), computed once for the positive and the negative item. So
NeuMF trains on exactly the book's numbers, Caser on the same to float rounding (its loss
agrees to about 1e-7), and the evaluation's scores agree with the book's per-pair forward
passes to float rounding: a ranking can differ only where two items' scores are within
rounding of each other.
"""
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

from .. import rank_metrics, rank_scores
from ..experiments import non_finite_error
from ..plotting import in_notebook
from ..rank_data import NegativeSampler
from ..checks import caser_convolutions
from ..rank_runs import (early_stopping_hook, finish_early_stopping, finish_ranking_history,
                         neumf_output, new_ranking_history, ranking_evaluator,
                         record_ranking_epoch)
from .fast import MF, EarlyStopping, RolloverBatches

npx.set_np()

__all__ = ['NeuMF', 'Caser', 'neumf_scores', 'caser_scores', 'mf_scores', 'user_item_scores',
           'evaluate_ranking', 'fit_neumf', 'fit_caser', 'fit_mf_ranking', 'LOSSES']

HYBRID_FLAGS = dict(static_alloc=True, static_shape=True)


def bpr(F, positive, negative):
    """The book's ``BPRLoss`` summed: :math:`-\\sum \\ln \\sigma(\\hat y_{ui} - \\hat y_{uj})`."""
    return -F.np.sum(F.np.log(F.npx.sigmoid(positive - negative)))


def hinge(F, positive, negative, margin=1):
    """The book's ``HingeLossbRec``: :math:`\\sum \\max(m - \\hat y_{ui} + \\hat y_{uj}, 0)`."""
    return F.np.sum(F.np.maximum(-(positive - negative) + margin, 0))


LOSSES = {'bpr': bpr, 'hinge': hinge}


class NeuMF(nn.HybridBlock):
    r"""NeuMF (the book's block) as a ``HybridBlock``: the same children (``P``, ``Q``, ``U``,
    ``V``, ``mlp``, ``prediction_layer``) and parameter names, so parameter files of either
    load into the other. The layers' input sizes are given, so every weight is drawn at
    ``initialize`` (the book's block draws the MLP's and the prediction layer's at the first
    forward pass, in the same order). ``output``: as the book's block's."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens, output='sigmoid',
                 **kwargs):
        super(NeuMF, self).__init__(**kwargs)
        self.output = neumf_output(output)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.HybridSequential()
        units = 2 * num_factors
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu', use_bias=True,
                                  in_units=units))
            units = num_hiddens
        self.prediction_layer = nn.Dense(1, activation='sigmoid' if output == 'sigmoid'
                                         else None, use_bias=False,
                                         in_units=num_factors + units)

    def hybrid_forward(self, F, user_id, item_id):
        gmf = self.P(user_id) * self.Q(item_id)
        mlp = self.mlp(F.np.concatenate([self.U(user_id), self.V(item_id)], axis=1))
        return self.prediction_layer(F.np.concatenate([gmf, mlp], axis=1))


def _conv_features(F, net, seq):
    """The book's Caser convolutions (``Conv2D``, ``MaxPool1D``) over the windows ``seq``:
    ``[vertical, horizontal]`` per row, before the dropout and the fully connected layer."""
    item_embs = F.np.expand_dims(net.Q(seq), 1)
    out_v = net.conv_v(item_embs).reshape(-1, net.fc1_dim_v)
    out_hs = []
    for conv, maxp in zip(net.conv_h, net.max_pool):
        conv_out = F.np.squeeze(F.npx.relu(conv(item_embs)), axis=3)
        out_hs.append(F.np.squeeze(maxp(conv_out), axis=2))
    return F.np.concatenate([out_v, F.np.concatenate(out_hs, axis=1)], axis=1)


class _VerticalConv(nn.HybridBlock):
    """The book's vertical ``Conv2D(d_prime, (L, 1), in_channels=1)`` (same parameters:
    ``weight`` ``(d_prime, 1, L, 1)``, ``bias``) on a window's embeddings ``(batch, L, k)``
    as one matrix product: filter ``f`` weighs the ``L`` embeddings, column by column.
    Returns ``(batch, d_prime * k)``, the book's ``out_v``."""
    def __init__(self, channels, L, k):
        super(_VerticalConv, self).__init__()
        self._shape = (channels, L, k)
        self.weight = self.params.get('weight', shape=(channels, 1, L, 1))
        self.bias = self.params.get('bias', shape=(channels,), init='zeros')

    def hybrid_forward(self, F, emb, weight, bias):
        channels, L, k = self._shape
        x = F.np.swapaxes(emb, 1, 2).reshape(-1, L)               # (batch * k, L)
        y = F.np.dot(x, weight.reshape(channels, L).T)            # (batch * k, channels)
        y = F.np.swapaxes(y.reshape(-1, k, channels), 1, 2)       # (batch, channels, k)
        return (y + bias.reshape(1, channels, 1)).reshape(-1, channels * k)


class _HorizontalConv(nn.HybridBlock):
    """The book's horizontal ``Conv2D(d, (h, k), in_channels=1)`` followed by its ReLU and
    ``MaxPool1D(L - h + 1)`` (same parameters: ``weight`` ``(d, 1, h, k)``, ``bias``), on a
    window's embeddings ``(batch, L, k)``: each run of ``h`` consecutive embeddings, flattened,
    times the flattened filters. Returns ``(batch, d)``."""
    def __init__(self, channels, h, L, k):
        super(_HorizontalConv, self).__init__()
        self._shape = (channels, h, L, k)
        self.weight = self.params.get('weight', shape=(channels, 1, h, k))
        self.bias = self.params.get('bias', shape=(channels,), init='zeros')

    def hybrid_forward(self, F, emb, weight, bias):
        channels, h, L, k = self._shape
        steps = L - h + 1
        w = weight.reshape(channels, h * k)
        # Position t's output: the sum over the filter's rows r of emb[t + r] . w[:, r].
        y = bias
        for r in range(h):
            rows = emb[:, r:r + steps, :].reshape(-1, k)
            y = y + F.np.dot(rows, w[:, r * k:(r + 1) * k].T)
        y = y.reshape(-1, steps, channels)
        # Max over the positions, then the ReLU (they commute: the same values).
        top = y[:, 0, :]
        for t in range(1, steps):
            top = F.np.maximum(top, y[:, t, :])
        return F.npx.relu(top)


def _caser_score(F, net, z, user_id, item_id):
    # The book's scoring, elementwise: (x * q'_i).sum(1) + b_i with x = [z, p_u].
    x = F.np.concatenate([z, net.P(user_id)], axis=1)
    q_prime_i = net.Q_prime(item_id).reshape(-1, 2 * net.num_factors)
    b = net.b(item_id).reshape(-1)
    return (x * q_prime_i).sum(1) + b


class Caser(nn.HybridBlock):
    """Caser (the book's block) as a ``HybridBlock`` with the same call,
    ``net(user_id, seq, item_id)``, and the same parameters under the same names (``P``,
    ``Q``, ``conv_v``, ``conv_h.0`` .. ``conv_h.{L-1}``, ``fc``, ``Q_prime``, ``b``), drawn
    in the same order: parameter files interchange with the book's block. Its convolutions
    run as matrix products (:class:`_VerticalConv`, :class:`_HorizontalConv`): the same
    values to float rounding.

    ``horizontal=False`` or ``vertical=False`` (keyword only; the defaults are the book's
    model) leaves that convolution out (``conv_v`` is then None, ``conv_h`` empty), and the
    fully connected layer takes the other's outputs alone: the section's ablation, which the
    book's block cannot run (with ``d=0`` or ``d_prime=0`` its forward concatenates None)."""
    def __init__(self, num_factors, num_users, num_items, L=5, d=16, d_prime=4,
                 drop_ratio=0.05, *, horizontal=True, vertical=True, **kwargs):
        super(Caser, self).__init__(**kwargs)
        horizontal, vertical = caser_convolutions(horizontal, vertical)
        self.num_factors, self.L = num_factors, L
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.d_prime, self.d = d_prime, d
        self.conv_v = _VerticalConv(d_prime, L, num_factors) if vertical else None
        self.conv_h = nn.HybridSequential()
        for i in range(1, L + 1 if horizontal else 1):
            self.conv_h.add(_HorizontalConv(d, i, L, num_factors))
        self.fc1_dim_v = d_prime * num_factors if vertical else 0
        self.fc1_dim_h = d * L if horizontal else 0
        self.fc = nn.Dense(in_units=self.fc1_dim_v + self.fc1_dim_h, activation='relu',
                           units=num_factors)
        self.Q_prime = nn.Embedding(num_items, num_factors * 2)
        self.b = nn.Embedding(num_items, 1)
        self.dropout = nn.Dropout(drop_ratio)

    def features(self, F, seq):
        """The convolutions' outputs ``[vertical, horizontal]`` of the windows ``seq`` (the
        book's ``out``, before the dropout; one of them alone in an ablation)."""
        emb = self.Q(seq)
        vertical = [] if self.conv_v is None else [self.conv_v(emb)]
        return F.np.concatenate(vertical + [c(emb) for c in self.conv_h], axis=1)

    def hybrid_forward(self, F, user_id, seq, item_id):
        z = self.fc(self.dropout(self.features(F, seq)))
        return _caser_score(F, self, z, user_id, item_id)


class _NeuMFPairLoss(nn.HybridBlock):
    """The book's step for NeuMF in one graph: ``loss(net(u, i), net(u, j))``, summed (any
    model called ``net(users, items)``: the book's MF too)."""
    def __init__(self, net, loss):
        super(_NeuMFPairLoss, self).__init__()
        self.net, self._loss = net, LOSSES[loss]

    def hybrid_forward(self, F, u, i, j):
        return self._loss(F, self.net(u, i), self.net(u, j))


class _CaserPairLoss(nn.HybridBlock):
    """The book's step for Caser in one graph: the windows' convolutions once, then, as the
    book's two forward passes do, a dropout mask and the scoring for the positive item and
    then for the negative one."""
    def __init__(self, net, loss):
        super(_CaserPairLoss, self).__init__()
        self.net, self._loss = net, LOSSES[loss]

    def hybrid_forward(self, F, u, seq, i, j):
        net = self.net
        out = net.features(F, seq)
        positive = _caser_score(F, net, net.fc(net.dropout(out)), u, i)
        negative = _caser_score(F, net, net.fc(net.dropout(out)), u, j)
        return self._loss(F, positive, negative)


class _CaserSoftmaxLoss(nn.HybridBlock):
    r"""Caser's softmax loss (not the book's; ``loss='softmax'``) in one graph, summed over
    the windows: the user's representation :math:`\mathbf{x} = [\mathbf{z}, \mathbf{p}_u]`
    once per window (one dropout mask), every item's score :math:`\mathbf{x} \cdot
    \mathbf{v}_i + b_i` as one matrix product, and the cross-entropy of the next item among
    them: :math:`-\ln \operatorname{softmax}(\hat{\mathbf{y}})_{\textrm{next}}`. No negative
    is sampled. ``every``: all item ids, a constant, so that the graph reads ``Q_prime`` and
    ``b`` whole through their embeddings."""
    def __init__(self, net, num_items):
        super(_CaserSoftmaxLoss, self).__init__()
        self.net = net
        self.every = self.params.get_constant('every', onp.arange(num_items, dtype='float32'))

    def hybrid_forward(self, F, u, seq, i, every):
        net = self.net
        x = F.np.concatenate([net.fc(net.dropout(net.features(F, seq))), net.P(u)], axis=1)
        scores = F.np.dot(x, net.Q_prime(every).T) + net.b(every).reshape(1, -1)
        return -F.np.sum(F.npx.pick(F.npx.log_softmax(scores, axis=-1), i, axis=-1))


# ------------------------------------------------------------------------- scoring everything

def _host(param):
    return param.data(param.list_ctx()[0]).asnumpy()


def neumf_scores(net):
    """Every user's score of every item, ``(num_users, num_items)`` float32 on the host, for a
    NeuMF (either class), from its weights (:func:`d2l_recsys.rank_scores.neumf_score_matrix`:
    the GMF part as one matrix product, the first MLP layer as a user and an item part)."""
    layers = [(_host(layer.weight), _host(layer.bias)) for layer in net.mlp]
    return rank_scores.neumf_score_matrix(
        _host(net.P.weight), _host(net.Q.weight), _host(net.U.weight), _host(net.V.weight),
        layers, _host(net.prediction_layer.weight), output=getattr(net, 'output', 'sigmoid'))


def caser_scores(net, test_seq):
    """Every user's score of every item for a Caser (either class), ``(num_users,
    num_items)`` float32 on the host: each user's sequence part (the convolutions over
    ``test_seq``, their last ``L`` training items) once, on the model's device, then
    :func:`d2l_recsys.rank_scores.caser_score_matrix`."""
    ctx = net.P.weight.list_ctx()[0]
    seq = test_seq if isinstance(test_seq, np.ndarray) else np.array(test_seq)
    seq = seq.as_in_ctx(ctx)
    with autograd.predict_mode():
        out = net.features(mx, seq) if isinstance(net, Caser) else _conv_features(mx, net, seq)
        z = net.fc(out).asnumpy()
    return rank_scores.caser_score_matrix(z, _host(net.P.weight), _host(net.Q_prime.weight),
                                          _host(net.b.weight))


def mf_scores(net):
    """Every user's score of every item for the book's MF (either class) trained as a ranking
    model, ``(num_users, num_items)`` float32: :func:`d2l_recsys.rank_scores.mf_score_matrix`."""
    return rank_scores.mf_score_matrix(_host(net.P.weight), _host(net.Q.weight),
                                       _host(net.user_bias.weight), _host(net.item_bias.weight))


def user_item_scores(net, *, seq=None):
    """:func:`neumf_scores`, :func:`caser_scores` (with ``seq``) or :func:`mf_scores`, by the
    model's kind."""
    if hasattr(net, 'conv_v'):
        if seq is None:
            raise ValueError('Caser scores from the users\' last items: pass seq=')
        return caser_scores(net, seq)
    if hasattr(net, 'user_bias'):
        return mf_scores(net)
    return neumf_scores(net)


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items, devices):
    """A drop-in for the book's ``evaluate_ranking`` (same arguments, same hit rate and AUC
    for the same scores): scores from :func:`user_item_scores`, the book's metric from
    :func:`d2l_recsys.rank_metrics.book_hit_and_auc`. Returns two floats."""
    scores = user_item_scores(net, seq=seq)
    hit_rate, auc, _ = rank_metrics.book_hit_and_auc(scores, test_input, candidates, num_users)
    return hit_rate, auc


# ------------------------------------------------------------------------------------ training

def _to_devices(arrays, devices):
    """Each host array copied to every device once (float32: ``Embedding`` reads float ids,
    exact below 2**24, as the book's batches are)."""
    return [[np.array(a, dtype='float32', ctx=d) for a in arrays] for d in devices]


def _fit(net, wrapped, trainer, columns, users, sampler, settings, devices, evaluate, *,
         animator, progress, verbose, patience=None, on_epoch=None):
    """The loop of the book's ``train_ranking`` over device-resident batches.

    ``columns``: the examples' inputs (host arrays, first axis = examples) before the
    negative item; ``users``: each example's user, for the negative sampler (None: no
    negative, the softmax loss). Per epoch: the book's batches (:class:`RolloverBatches`), one
    negative per example in their order, one cached graph forward and backward per batch and
    device shard, ``trainer.step``; then one host copy of the losses and ``evaluate()``
    (``(hit_rate, auc, exact)``). ``patience``: early stopping on the exact HR@10 of the
    held-out items, the best epoch's parameters given back
    (:func:`d2l_recsys.rank_runs.early_stopping_hook`); ``on_epoch(epoch, hr10)`` after each
    evaluation.
    """
    batch_size, num_epochs = settings['batch_size'], settings['num_epochs']
    if batch_size % len(devices):
        raise ValueError(f'batch_size {batch_size} must be a multiple of the number of '
                         f'devices ({len(devices)})')
    shard = batch_size // len(devices)
    if progress is None:
        progress = not in_notebook()
    history = new_ranking_history()
    stopper = EarlyStopping(net, patience) if patience else None
    after_eval = early_stopping_hook(stopper, on_epoch)
    batches = RolloverBatches(len(users), batch_size)
    start, stamps, seen, train_total = time.time(), [], 0, 0.
    for epoch in range(num_epochs):
        tic = time.time()
        index = batches.epoch()   # may be empty: 'rollover' carries the examples on
        flat = index.reshape(-1)
        negatives = [] if sampler is None else [sampler.sample(users[flat])]
        resident = _to_devices([c[flat] for c in columns] + negatives, devices)
        losses = []
        for b in range(len(index)):
            with autograd.record():
                ls = [wrapped(*(x[b * batch_size + k * shard:b * batch_size + (k + 1) * shard]
                                for x in on_device))
                      for k, on_device in enumerate(resident)]
            for l in ls:
                l.backward()
            trainer.step(batch_size)
            losses.append(ls)
            stamps.append(time.time() - start)
        # One host copy per device: each batch's summed loss, added over the devices.
        batch_totals = sum(np.stack([batch[k] for batch in losses]).asnumpy()
                           .astype(onp.float64).reshape(-1) for k in range(len(devices))
                           ) if losses else onp.zeros(0)
        if not onp.isfinite(batch_totals).all():
            raise non_finite_error('loss', batch_totals[~onp.isfinite(batch_totals)][0],
                                   epoch, trainer.learning_rate)
        train_seconds = time.time() - tic
        train_total += train_seconds
        seen += len(flat)
        measured = None
        if (epoch + 1) % settings.get('eval_step', 1) == 0:
            with autograd.predict_mode():
                measured = evaluate()
            if animator is not None:
                animator.add(epoch + 1, measured[:2])
        record_ranking_epoch(history, epoch, num_epochs,
                             batch_totals.sum() / len(flat) if len(flat) else None,
                             measured, tic, train_seconds, progress)
        # The book's loss: l adds each batch's sum over devices of .mean() / len(devices);
        # metric.add(l, ...) adds the running l at every batch.
        running = onp.cumsum(batch_totals / len(devices))
        printed = float(running.sum()) / len(flat) if len(flat) else None
        if measured is not None and after_eval(epoch + 1, measured[2]):
            break
    finish_early_stopping(stopper, history)
    if printed is None:
        raise ValueError(f'the last epoch had no batch of {batch_size} (the book\'s loop then '
                         f'divides by zero): use a batch size of at most {len(users)}, the '
                         'number of training examples')
    # The book's examples/sec: the last epoch's examples times the epochs, over the sum of the
    # times since the start at every batch (the book's timer is never restarted).
    return finish_ranking_history(
        history, printed_train_loss=printed,
        printed_examples_per_sec=len(flat) * num_epochs / sum(stamps),
        examples_per_sec=seen / max(train_total, 1e-9), devices=devices, animator=animator,
        verbose=verbose)


def _trainer(net, settings, optimizer='adam'):
    # The book's Adam; ``optimizer``: another of Gluon's by name (defaults.OPTIMIZERS).
    return gluon.Trainer(net.collect_params(), optimizer,
                         {'learning_rate': settings['lr'], 'wd': settings['wd']})


def _fit_pairs(net, settings, rank_data, devices, *, optimizer, **loop):
    """Train ``net``, called ``net(users, items)``, on ``rank_data``'s (user, item) pairs with
    a negative each, as the book's NeuMF cell trains (:func:`_fit`; ``loop``: its keyword
    arguments)."""
    s = settings
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    net.hybridize(**HYBRID_FLAGS)
    wrapped = _NeuMFPairLoss(net, s['loss'])
    wrapped.hybridize(**HYBRID_FLAGS)
    users = onp.asarray(rank_data.users, dtype=onp.int64)
    items = onp.asarray(rank_data.items, dtype=onp.int64)
    sampler = NegativeSampler(rank_data.candidates, rank_data.num_users, rank_data.num_items)
    evaluate = ranking_evaluator(lambda: user_item_scores(net), rank_data)
    history = _fit(net, wrapped, _trainer(net, s, optimizer), [users, items], users, sampler,
                   s, devices, evaluate, **loop)
    return net, history


def fit_neumf(settings, rank_data, devices, *, output='sigmoid', optimizer='adam',
              patience=None, on_epoch=None, animator=None, progress=None, verbose=True):
    """Train the book's NeuMF on ``rank_data`` (:class:`d2l_recsys.rank_data.RankData`) with
    checked ``settings`` (:func:`d2l_recsys.experiments.check_settings`); returns ``(net,
    history)`` (:mod:`d2l_recsys.rank_runs`; the exact metrics at every evaluation).
    ``verbose=False`` leaves out the book's two closing lines. ``output``: NeuMF's
    (``'logit'``: no sigmoid); ``optimizer``: Gluon's name of another optimizer than the book's
    Adam; ``patience``, ``on_epoch``: early stopping on the held-out items' exact HR@10 (see
    :func:`_fit`)."""
    s = settings
    net = NeuMF(s['num_factors'], rank_data.num_users, rank_data.num_items,
                s['nums_hiddens'], output=output)
    return _fit_pairs(net, s, rank_data, devices, optimizer=optimizer, patience=patience,
                      on_epoch=on_epoch, animator=animator, progress=progress, verbose=verbose)


def fit_mf_ranking(settings, rank_data, devices, *, optimizer='adam', patience=None,
                   on_epoch=None, animator=None, progress=None, verbose=True):
    """Train the book's MF (:class:`d2l_recsys.mxnet.fast.MF`, the same parameters) as a
    ranking model: the NeuMF cell's loop, pairwise loss, negatives and batches with MF in
    NeuMF's place (``settings``: NeuMF's without ``nums_hiddens``). Returns ``(net,
    history)`` as :func:`fit_neumf`."""
    net = MF(settings['num_factors'], rank_data.num_users, rank_data.num_items)
    return _fit_pairs(net, settings, rank_data, devices, optimizer=optimizer,
                      patience=patience, on_epoch=on_epoch, animator=animator,
                      progress=progress, verbose=verbose)


def fit_caser(settings, rank_data, windows, devices, *, horizontal=True, vertical=True,
              optimizer='adam', patience=None, on_epoch=None, animator=None, progress=None,
              verbose=True):
    """Train the book's Caser on ``rank_data`` and its training ``windows``
    (:func:`d2l_recsys.rank_data.seq_windows`); returns ``(net, history)`` as
    :func:`fit_neumf`. ``horizontal``, ``vertical``: :class:`Caser`'s ablation.
    ``settings['loss'] == 'softmax'`` (not the book's) trains on the cross-entropy of each
    window's next item among all items (:class:`_CaserSoftmaxLoss`), drawing no negatives; the
    book's pairwise losses draw one per window."""
    s = settings
    net = Caser(s['num_factors'], rank_data.num_users, rank_data.num_items, s['L'], s['d'],
                s['d_prime'], s['drop_ratio'], horizontal=horizontal, vertical=vertical)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    net.hybridize(**HYBRID_FLAGS)
    if s['loss'] == 'softmax':
        wrapped, sampler = _CaserSoftmaxLoss(net, rank_data.num_items), None
        wrapped.every.initialize(ctx=devices)
    else:
        wrapped = _CaserPairLoss(net, s['loss'])
        sampler = NegativeSampler(rank_data.candidates, rank_data.num_users,
                                  rank_data.num_items)
    wrapped.hybridize(**HYBRID_FLAGS)
    users = windows.users.astype(onp.int64)
    columns = [users, windows.items, windows.targets.reshape(-1)]
    evaluate = ranking_evaluator(lambda: user_item_scores(net, seq=windows.test_seq),
                                 rank_data)
    history = _fit(net, wrapped, _trainer(net, s, optimizer), columns, users, sampler, s,
                   devices, evaluate, animator=animator, progress=progress, verbose=verbose,
                   patience=patience, on_epoch=on_epoch)
    return net, history
