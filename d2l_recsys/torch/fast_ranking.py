r"""The fast path of the ranking half in the PyTorch tab: the same modules, loss, optimizer,
batches, negatives and dropout masks as the tab's faithful NeuMF and Caser runs, sooner.

``train_neumf(fast=True)`` / ``train_caser(fast=True)`` (CLI ``--framework torch --fast``) of
:mod:`d2l_recsys.torch.experiments` check, seed, read the data and build the model as the
faithful path does, then train here with :func:`fit_neumf` / :func:`fit_caser`.

What stays the same: the modules (:class:`~d2l_recsys.torch.neumf.NeuMF`,
:class:`~d2l_recsys.torch.seqrec.Caser`, built and initialised by the same calls), the loss
(the book's BPR or hinge, summed over the batch and divided by its size), ``torch.optim.Adam``
with the same arguments (its ``fused=True`` kernel: the same update in one call), the batches
(:class:`~d2l_recsys.torch.fast.ShuffledBatches` replays the draws of the faithful path's
``DataLoader(shuffle=True)``), the negatives (:class:`d2l_recsys.rank_data.NegativeSampler`:
the book's ``random.randint`` draw for every example, in the loader's order: **the same samples
for the same random draws**), Caser's windows (:func:`d2l_recsys.rank_data.seq_windows`) and
its dropout masks (drawn for the positive item, then for the negative one, as the faithful
path's two forward passes draw them).

What is faster: the epoch's examples are gathered on the device with one index and cut into
batches as views, Caser's convolutions run as matrix products (:func:`caser_features`) once per
window for both items, the losses come back once per epoch, and each evaluation scores every
user and item at once from the models' parts (:mod:`d2l_recsys.rank_scores`) instead of a
forward pass per user. The numbers are the faithful path's to float rounding (the fused Adam
kernel and the evaluation sum in another order).

Beyond the book, as in the MXNet tab, for the tuned presets (:mod:`d2l_recsys.rank_tuning`):
NeuMF's ``output='logit'``, Caser's softmax loss (:func:`caser_softmax_loss`, this path only)
and early stopping on the held-out items' exact HR@10 (``patience``).
"""
import time

import numpy as onp
import torch

from .. import rank_metrics, rank_scores
from ..experiments import non_finite_error
from ..plotting import in_notebook
from ..rank_data import NegativeSampler
from ..rank_runs import (early_stopping_hook, finish_early_stopping, finish_ranking_history,
                         new_ranking_history, ranking_animator, ranking_evaluator,
                         record_ranking_epoch)
from .fast import EarlyStopping, ShuffledBatches, threads

__all__ = ['caser_features', 'neumf_scores', 'caser_scores', 'mf_scores', 'user_item_scores',
           'evaluate_ranking', 'caser_softmax_loss', 'fit_neumf', 'fit_caser', 'THREADS']

# PyTorch's intra-op threads on a CPU (None: PyTorch's default): these models' operators are
# small, and a second thread waiting at every one of them costs more than it gives.
THREADS = {'neumf': 1, 'caser': 1}


def _host(tensor):
    return tensor.detach().cpu().numpy()


def neumf_scores(net):
    """Every user's score of every item, ``(num_users, num_items)`` float32 on the host, for
    a NeuMF, from its weights (:func:`d2l_recsys.rank_scores.neumf_score_matrix`)."""
    layers = [(_host(layer.weight), _host(layer.bias)) for layer in net.mlp]
    return rank_scores.neumf_score_matrix(
        _host(net.P.weight), _host(net.Q.weight), _host(net.U.weight), _host(net.V.weight),
        layers, _host(net.prediction_layer.weight), output=getattr(net, 'output', 'sigmoid'))


def caser_features(net, seq):
    """Caser's convolutions over the windows ``seq`` (the book's ``out``: ``[vertical,
    horizontal]``, before the dropout) as matrix products with the convolutions' own
    parameters, so that gradients reach them as through ``Conv2d``: a vertical filter weighs
    the window's ``L`` embeddings column by column, a horizontal filter of height ``h``
    multiplies each run of ``h`` consecutive embeddings; the maximum over the positions is
    taken before the ReLU (they commute). The same values as ``Caser.features`` to float
    rounding, about twice as soon on a CPU."""
    emb = net.Q(seq)                                             # (batch, L, k)
    batch, L, k = emb.shape
    outs = []
    if net.conv_v is not None:   # (None: the ablation without the vertical convolution)
        wv = net.conv_v.weight.reshape(net.conv_v.out_channels, L)
        out_v = torch.einsum('blk,fl->bfk', emb, wv) + net.conv_v.bias[:, None]
        outs.append(out_v.reshape(batch, -1))
    for conv in net.conv_h:
        d, _, h, _ = conv.weight.shape
        steps = L - h + 1
        w = conv.weight.reshape(d, h * k)
        y = conv.bias
        for r in range(h):
            y = y + emb[:, r:r + steps, :] @ w[:, r * k:(r + 1) * k].T
        outs.append(torch.relu(y.amax(dim=1)))
    return torch.cat(outs, dim=1)


def caser_softmax_loss(net, user_id, seq, item_id):
    r"""Caser's softmax loss (not the book's; ``loss='softmax'``), summed over the windows:
    the user's representation :math:`\mathbf{x} = [\mathbf{z}, \mathbf{p}_u]` once per window
    (one dropout mask), every item's score :math:`\mathbf{x} \cdot \mathbf{v}_i + b_i` as one
    matrix product, and the cross-entropy of the next item ``item_id`` among them. No negative
    is sampled. The MXNet tab's ``_CaserSoftmaxLoss``, the same value for the same weights."""
    x = torch.cat([net.fc(net.dropout(caser_features(net, seq))), net.P(user_id)], dim=1)
    scores = x @ net.Q_prime.weight.T + net.b.weight.T
    return torch.nn.functional.cross_entropy(scores, item_id.reshape(-1), reduction='sum')


def caser_scores(net, test_seq):
    """Every user's score of every item for a Caser: each user's sequence part (the
    convolutions over ``test_seq``, their last ``L`` training items) once, in evaluation
    mode, then :func:`d2l_recsys.rank_scores.caser_score_matrix`."""
    device = net.P.weight.device
    seq = torch.as_tensor(onp.asarray(test_seq), dtype=torch.int64, device=device)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        z = _host(net.fc(caser_features(net, seq)))
    net.train(was_training)
    return rank_scores.caser_score_matrix(z, _host(net.P.weight), _host(net.Q_prime.weight),
                                          _host(net.b.weight))


def mf_scores(net):
    """Every user's score of every item for the book's MF trained as a ranking model,
    ``(num_users, num_items)`` float32: :func:`d2l_recsys.rank_scores.mf_score_matrix`."""
    return rank_scores.mf_score_matrix(_host(net.P.weight), _host(net.Q.weight),
                                       _host(net.user_bias.weight), _host(net.item_bias.weight))


def user_item_scores(net, *, seq=None):
    """:func:`neumf_scores`, :func:`caser_scores` (with ``seq``) or :func:`mf_scores`, by the
    model's kind."""
    if hasattr(net, 'conv_v'):
        if seq is None:
            raise ValueError("Caser scores from the users' last items: pass seq=")
        return caser_scores(net, seq)
    if hasattr(net, 'user_bias'):
        return mf_scores(net)
    return neumf_scores(net)


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items, devices):
    """A drop-in for ``evaluate_ranking`` (same arguments, same hit rate and AUC for the same
    scores): :func:`user_item_scores`, then
    :func:`d2l_recsys.rank_metrics.book_hit_and_auc`. Returns two floats."""
    scores = user_item_scores(getattr(net, 'module', net), seq=seq)
    hit_rate, auc, _ = rank_metrics.book_hit_and_auc(scores, test_input, candidates, num_users)
    return hit_rate, auc


def _check_device(devices):
    if len(devices) != 1:
        raise ValueError(f'the fast path trains on one device, got {len(devices)} '
                         f'({", ".join(map(str, devices))}); drop --fast for several GPUs')
    return devices[0]


def _fit(net, step, trainer, columns, users, sampler, settings, devices, evaluate, *, plot,
         progress, verbose, figure_path, patience=None, on_epoch=None):
    """The loop of ``train_ranking`` over device-resident data: per epoch the loader's
    permutation (:class:`ShuffledBatches`), one negative per example in its order (none when
    ``sampler`` is None: the softmax loss), then per batch ``step(*batch)`` (forward and
    backward; the batch's summed loss, a device scalar) and ``trainer.step()``; one host copy
    of the losses, then ``evaluate()``. ``patience``, ``on_epoch``: early stopping on the
    held-out items' exact HR@10, as in the MXNet tab."""
    device = _check_device(devices)
    batch_size, num_epochs = settings['batch_size'], settings['num_epochs']
    if progress is None:
        progress = not in_notebook()
    animator = ranking_animator(plot, num_epochs)
    history = new_ranking_history()
    stopper = EarlyStopping(net, patience) if patience else None
    after_eval = early_stopping_hook(stopper, on_epoch)
    batches = ShuffledBatches(len(users), batch_size)
    tensors = [torch.as_tensor(c, device=device) for c in columns]
    start, stamps, seen, train_total = time.time(), [], 0, 0.
    lr = trainer.param_groups[0]['lr']
    for epoch in range(num_epochs):
        tic = time.time()
        net.train()
        perm, bounds = batches.epoch()
        order = perm.numpy()
        negatives = [] if sampler is None else \
            [torch.as_tensor(sampler.sample(users[order]), device=device)]
        index = perm.to(device)
        shuffled = [t[index] for t in tensors] + negatives
        losses = torch.empty(len(bounds), dtype=torch.float64, device=device)
        for b, (a, z) in enumerate(bounds):
            trainer.zero_grad()
            losses[b] = step(*(t[a:z] for t in shuffled))
            trainer.step()
            stamps.append(time.time() - start)
        totals = losses.cpu().numpy()
        sizes = onp.array([z - a for a, z in bounds], dtype=onp.float64)
        if not onp.isfinite(totals).all():
            raise non_finite_error('loss', totals[~onp.isfinite(totals)][0], epoch, lr)
        train_seconds = time.time() - tic
        train_total += train_seconds
        seen += len(order)
        measured = None
        if (epoch + 1) % settings.get('eval_step', 1) == 0:
            net.eval()
            measured = evaluate()
            animator.add(epoch + 1, measured[:2])
        record_ranking_epoch(history, epoch, num_epochs, totals.sum() / len(order), measured,
                             tic, train_seconds, progress)
        # The book's loss: the running sum of the batch losses, added at every batch.
        printed = float(onp.cumsum(totals).sum()) / sizes.sum()
        if measured is not None and after_eval(epoch + 1, measured[2]):
            break
    finish_early_stopping(stopper, history)
    # The book's examples/sec: the last epoch's examples times the epochs, over the sum of the
    # times since the start at every batch.
    return finish_ranking_history(
        history, printed_train_loss=printed,
        printed_examples_per_sec=len(order) * num_epochs / sum(stamps),
        examples_per_sec=seen / max(train_total, 1e-9), devices=devices, animator=animator,
        figure_path=figure_path, verbose=verbose)


def fit_neumf(net, loss, trainer, rank_data, settings, devices, *, plot=None, progress=None,
              figure_path=None, verbose=True, patience=None, on_epoch=None):
    """Train NeuMF ``net`` (built and initialised by the caller, as on the faithful path) with
    ``loss`` (the tab's ``BPRLoss`` or ``HingeLossbRec``) on ``rank_data``; returns the
    history (:mod:`d2l_recsys.rank_runs`, the exact metrics at every evaluation). Any model
    called ``net(users, items)`` that :func:`user_item_scores` knows trains the same way:
    the book's MF too (``train_mf_ranking``). ``patience``, ``on_epoch``: early stopping on the
    held-out items' exact HR@10."""
    device = _check_device(devices)
    net.to(device)
    users = onp.asarray(rank_data.users, dtype=onp.int64)
    items = onp.asarray(rank_data.items, dtype=onp.int64)

    def step(u, i, j):
        ls = loss(net(u, i), net(u, j)).sum()
        (ls / u.shape[0]).backward()
        return ls.detach()

    sampler = NegativeSampler(rank_data.candidates, rank_data.num_users, rank_data.num_items)
    evaluate = ranking_evaluator(lambda: user_item_scores(net), rank_data)
    with threads(_threads('neumf', device)):
        return _fit(net, step, trainer, [users, items], users, sampler, settings, devices,
                    evaluate, plot=plot, progress=progress, verbose=verbose,
                    figure_path=figure_path, patience=patience, on_epoch=on_epoch)


def fit_caser(net, loss, trainer, rank_data, windows, settings, devices, *, plot=None,
              progress=None, figure_path=None, verbose=True, patience=None, on_epoch=None):
    """Train Caser ``net`` on ``rank_data`` and its ``windows``
    (:func:`d2l_recsys.rank_data.seq_windows`); returns the history as :func:`fit_neumf`.
    The convolutions run once per window; the dropout masks are drawn for the positive item
    and then for the negative one, as the faithful path's two forward passes draw them.
    ``settings['loss'] == 'softmax'`` (``loss`` is then not used): :func:`caser_softmax_loss`,
    one dropout mask per window and no negative."""
    device = _check_device(devices)
    net.to(device)
    users = windows.users.astype(onp.int64)
    columns = [users, windows.items.astype(onp.int64),
               windows.targets.astype(onp.int64).reshape(-1, 1)]

    def pair_step(u, seq, i, j):
        out = caser_features(net, seq)
        positive = net.score(net.fc(net.dropout(out)), u, i)
        negative = net.score(net.fc(net.dropout(out)), u, j)
        ls = loss(positive, negative).sum()
        (ls / u.shape[0]).backward()
        return ls.detach()

    def softmax_step(u, seq, i):
        ls = caser_softmax_loss(net, u, seq, i)
        (ls / u.shape[0]).backward()
        return ls.detach()

    if settings['loss'] == 'softmax':
        step, sampler = softmax_step, None
    else:
        step = pair_step
        sampler = NegativeSampler(rank_data.candidates, rank_data.num_users,
                                  rank_data.num_items)
    evaluate = ranking_evaluator(lambda: user_item_scores(net, seq=windows.test_seq),
                                 rank_data)
    with threads(_threads('caser', device)):
        return _fit(net, step, trainer, columns, users, sampler, settings, devices,
                    evaluate, plot=plot, progress=progress, verbose=verbose,
                    figure_path=figure_path, patience=patience, on_epoch=on_epoch)


def _threads(model, device):
    return THREADS[model] if device.type == 'cpu' else None
