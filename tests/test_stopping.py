"""Early stopping and the learning-rate decay, the decisions both tabs' fast paths share: driven
here by hand with a list of held-out RMSEs (no framework)."""
import math

import pytest

from d2l_recsys import stopping


class Box(stopping.EarlyStopping):
    """Early stopping over one number standing for the parameters."""

    def __init__(self, patience):
        super().__init__(patience)
        self.value = None

    def snapshot(self):
        return self.value

    def load(self, saved):
        self.value = saved


def drive(rmses, patience=None, lr_decay=None, decay_at=None, lr=1.0):
    """Epochs 1, 2, ... with the given held-out RMSEs; returns (history, stopper, lrs, seen)
    where lrs is the learning rate after each epoch and seen what on_epoch received."""
    stopper = Box(patience) if patience else None
    state = {'lr': lr, 'rmse': None}
    lrs, seen = [], []

    def scale_lr(factor):
        state['lr'] *= factor
    stopping.check_lr_decay(lr_decay, patience, decay_at)
    hook = stopping.after_epoch_hook(stopper, lambda: state['rmse'],
                                     lambda e, r: seen.append((e, r)), scale_lr=scale_lr,
                                     lr_decay=lr_decay, decay_at=decay_at)
    history = {'epoch': []}
    for epoch, rmse in enumerate(rmses, start=1):
        if stopper is not None:
            stopper.value = f'parameters of epoch {epoch}'
        state['rmse'] = rmse
        history['epoch'].append(epoch)
        stop = hook(epoch, history)
        lrs.append(state['lr'])
        if stop:
            break
    stopping.finish(stopper, history)
    return history, stopper, lrs, seen


def test_stops_after_patience_epochs_and_gives_the_best_one_back():
    history, stopper, _, seen = drive([3., 2., 2.5, 2.6, 1.], patience=2)
    assert history['epoch'] == [1, 2, 3, 4]          # two epochs without improvement
    assert history['best_epoch'] == 2 and history['best_rmse'] == 2.
    assert history['stopped_epoch'] == 4
    assert stopper.value == 'parameters of epoch 2'  # not epoch 4's
    assert history['test_rmse_exact_per_epoch'] == [3., 2., 2.5, 2.6]
    assert seen == [(1, 3.), (2, 2.), (3, 2.5), (4, 2.6)]


def test_a_non_finite_rmse_stops_at_once():
    history, stopper, _, _ = drive([2., math.nan, 1.], patience=5)
    assert history['epoch'] == [1, 2] and stopper.value == 'parameters of epoch 1'
    with pytest.raises(ValueError, match='no epoch gave a finite'):
        drive([math.inf], patience=5)


def test_decay_after_half_the_patience_without_a_new_best():
    # patience 4: a decay once 2 epochs have passed since the best epoch or the last decay
    history, _, lrs, _ = drive([5., 4., 4.1, 4.2, 4.3, 4.4, 4.5], patience=4, lr_decay=0.5)
    assert history['lr_decayed_at'] == [4]            # epoch 6 stops, without a decay
    assert lrs == [1., 1., 1., .5, .5, .5]
    assert history['stopped_epoch'] == 6 and history['best_epoch'] == 2


def test_decay_at_replays_given_epochs_without_early_stopping():
    history, stopper, lrs, _ = drive([5., 4., 3., 2., 1.], lr_decay=0.1, decay_at=[2, 4])
    assert stopper is None and 'best_epoch' not in history
    assert history['lr_decayed_at'] == [2, 4]
    assert lrs == pytest.approx([1., .1, .1, .01, .01])
    history, _, lrs, _ = drive([5., 4., 3.], decay_at=[1])   # no factor: no decay
    assert 'lr_decayed_at' not in history and lrs == [1., 1., 1.]


@pytest.mark.parametrize('lr_decay, patience, decay_at', [(1.5, 3, None), (0, 3, None),
                                                          (0.5, None, None)])
def test_a_decay_needs_a_factor_below_one_and_a_rule(lr_decay, patience, decay_at):
    with pytest.raises(ValueError, match='lr_decay must be in'):
        stopping.check_lr_decay(lr_decay, patience, decay_at)


def test_patience_must_be_positive():
    with pytest.raises(ValueError, match='patience must be a positive integer'):
        Box(0)
