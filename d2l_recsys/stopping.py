"""Early stopping and the learning-rate decay of the fast paths, whatever the framework.

Tuning (:mod:`d2l_recsys.tuning`) trains with early stopping on a held-out RMSE and may shrink
the learning rate when that RMSE stalls. The decisions (which epoch is the best, when to stop,
when to decay) are the same in both tabs and live here; what differs per framework is how the
parameters are copied and put back (a subclass of :class:`EarlyStopping` in each tab's fast
path) and how the learning rate is changed (a ``scale_lr(factor)`` function).

The history keys written here: ``test_rmse_exact_per_epoch`` (the held-out RMSE of every
epoch), ``lr_decayed_at`` (the epochs after which the learning rate shrank), and from
:func:`finish` ``best_epoch``, ``best_rmse``, ``stopped_epoch``.
"""
import math

__all__ = ['EarlyStopping', 'check_lr_decay', 'after_epoch_hook', 'finish']


class EarlyStopping:
    """Keep the parameters of the epoch with the lowest held-out RMSE; stop after ``patience``
    epochs without an improvement (of more than ``min_delta``), and give the best ones back.

    Call :meth:`update` after every epoch with that epoch's RMSE on the held-out set (it
    returns True when training should stop), then :meth:`restore`. A non-finite RMSE stops
    training at once. A tab subclasses it with :meth:`snapshot` (a copy of the parameters,
    taken when the RMSE improves) and :meth:`load` (put such a copy back).
    """
    def __init__(self, patience, min_delta=0.):
        if int(patience) < 1:
            raise ValueError(f'patience must be a positive integer, got {patience!r}')
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best, self.best_epoch, self.saved = math.inf, 0, None

    def snapshot(self):
        """A copy of the parameters as they are now (the framework's part)."""
        raise NotImplementedError

    def load(self, saved):
        """Put a :meth:`snapshot` back into the parameters (the framework's part)."""
        raise NotImplementedError

    def update(self, epoch, rmse):
        rmse = float(rmse)
        if not math.isfinite(rmse):
            return True
        if rmse < self.best - self.min_delta:
            self.best, self.best_epoch = rmse, int(epoch)
            self.saved = self.snapshot()
        return epoch - self.best_epoch >= self.patience

    def restore(self):
        """Put the best epoch's parameters back; returns that epoch."""
        if self.saved is None:
            raise ValueError('EarlyStopping.restore: no epoch gave a finite held-out RMSE')
        self.load(self.saved)
        return self.best_epoch


def check_lr_decay(lr_decay, patience, decay_at):
    """ValueError unless ``lr_decay`` is None, or a factor in (0, 1) with early stopping
    (``patience``) or given epochs (``decay_at``) to decide when it applies."""
    if lr_decay is not None and not ((patience or decay_at is not None)
                                     and 0 < float(lr_decay) < 1):
        raise ValueError(f'lr_decay must be in (0, 1) and needs patience; got {lr_decay!r} '
                         f'with patience {patience!r}')


def after_epoch_hook(stopper, rmse_of, on_epoch, *, scale_lr=None, lr_decay=None,
                     decay_at=None):
    """The fast paths' ``after_epoch(epoch, history)``: returns True to stop training.

    It records ``rmse_of()`` (the exact held-out RMSE of the epoch just evaluated), updates
    ``stopper`` (an :class:`EarlyStopping`, or None), then ``on_epoch(epoch, rmse)`` (e.g. a
    search library's pruning, which may raise to abandon the run). ``lr_decay``: with early
    stopping, ``scale_lr(lr_decay)`` whenever half the patience (at least one epoch) has
    passed without an improvement since the best epoch or the last decay, so that a stalled
    run takes smaller steps before it stops. ``decay_at``: instead, the epochs after which to
    decay (an earlier run's ``history['lr_decayed_at']``, replayed when a preset trains again
    for the epochs it chose). Check the arguments first with :func:`check_lr_decay`.
    """
    stall = {'since': 0}

    def decay(epoch, history):
        scale_lr(float(lr_decay))
        history.setdefault('lr_decayed_at', []).append(epoch)

    def after_epoch(epoch, history):
        rmse = rmse_of()
        history.setdefault('test_rmse_exact_per_epoch', []).append(rmse)
        stop = stopper.update(epoch, rmse) if stopper is not None else False
        if decay_at is not None:
            if lr_decay is not None and epoch in decay_at:
                decay(epoch, history)
        elif lr_decay is not None and not stop:
            since = max(stopper.best_epoch, stall['since'])
            if epoch - since >= max(1, stopper.patience // 2):
                decay(epoch, history)
                stall['since'] = epoch
        if on_epoch is not None:
            on_epoch(epoch, rmse)
        return stop
    return after_epoch


def finish(stopper, history):
    """After training with early stopping: the best epoch's parameters back, and
    ``best_epoch``, ``best_rmse``, ``stopped_epoch`` in ``history``."""
    if stopper is not None:
        history['best_epoch'] = stopper.restore()
        history['best_rmse'] = stopper.best
        history['stopped_epoch'] = history['epoch'][-1]
