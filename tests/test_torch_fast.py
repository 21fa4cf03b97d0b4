"""The PyTorch tab's fast path against its faithful path: the same batches and dropout masks
(exactly), the same parameters after training and the same numbers (to float32 rounding: the
fast path uses Adam's fused kernel). Tiny synthetic data; no timing (speed is
`make bench`'s)."""
import pytest

torch = pytest.importorskip('torch')

from d2l_recsys.torch import experiments, fast  # noqa: E402

import synthetic  # noqa: E402


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    # 600 items: several AutoRec batches of 64 rows, with a short rest the loader drops.
    return synthetic.write_ml100k(str(tmp_path_factory.mktemp('torch-fast')), num_users=60,
                                  num_items=600, density=0.1)


@pytest.mark.parametrize('n, batch_size, drop_last', [(203, 64, False), (203, 64, True),
                                                      (128, 64, True), (5, 8, False)])
def test_shuffled_batches_are_the_dataloaders(n, batch_size, drop_last):
    """Two epochs of a shuffled DataLoader, each followed by one pass over an unshuffled one
    (the evaluation), against ShuffledBatches and loader_draw from the same seed: the same
    index batches, and the global generator left in the same state."""
    data = torch.arange(n)
    train = torch.utils.data.DataLoader(data, shuffle=True, batch_size=batch_size,
                                        drop_last=drop_last)
    test = torch.utils.data.DataLoader(data, batch_size=1000)
    torch.manual_seed(7)
    expected = []
    for _ in range(2):
        expected.append([b.tolist() for b in train])
        list(test)
    after_loader = torch.rand(3)

    torch.manual_seed(7)
    batches, got = fast.ShuffledBatches(n, batch_size, drop_last), []
    for _ in range(2):
        perm, bounds = batches.epoch()
        got.append([perm[a:b].tolist() for a, b in bounds])
        fast.loader_draw()
    assert got == expected
    assert torch.equal(torch.rand(3), after_loader)
    assert expected[0] != expected[1]   # the epochs are shuffled anew


def test_the_check_can_fail():
    # Without the evaluation's draw the second epoch is another permutation.
    data = torch.arange(50)
    train = torch.utils.data.DataLoader(data, shuffle=True, batch_size=10)
    torch.manual_seed(1)
    first = [b.tolist() for b in train]
    list(torch.utils.data.DataLoader(data, batch_size=10))
    second = [b.tolist() for b in train]
    torch.manual_seed(1)
    batches = fast.ShuffledBatches(50, 10)
    perm, bounds = batches.epoch()
    assert [perm[a:b].tolist() for a, b in bounds] == first
    perm, bounds = batches.epoch()   # no loader_draw() in between
    assert [perm[a:b].tolist() for a, b in bounds] != second


def run_both(train, **kwargs):
    runs = []
    for is_fast in (False, True):
        net, history, info = train(seed=3, fast=is_fast, plot=False, progress=False,
                                   devices='cpu', **kwargs)
        runs.append((net, history, info))
    return runs


def assert_same_run(runs):
    (net0, h0, info0), (net1, h1, info1) = runs
    # The same batches and masks from the same initial weights (test_shuffled_batches_...
    # shows the batches are the DataLoader's exactly). What differs is Adam's kernel: the fast
    # path asks torch.optim.Adam for its fused implementation, which rounds differently from
    # the per-parameter loop, so the parameters and losses agree to float32 rounding.
    params0, params1 = dict(net0.named_parameters()), dict(net1.named_parameters())
    assert sorted(params0) == sorted(params1)
    for name, p in params0.items():
        assert torch.allclose(p.detach(), params1[name].detach(), rtol=1e-4, atol=1e-6), name
        assert not torch.equal(p.detach(), torch.zeros_like(p))
    assert h1['train_loss'] == pytest.approx(h0['train_loss'], rel=1e-5)
    assert h1['printed_train_loss'] == pytest.approx(h0['printed_train_loss'], rel=1e-5)
    # The evaluators sum in another order (float32): equal to rounding.
    assert h1['test_rmse'] == pytest.approx(h0['test_rmse'], rel=1e-5)
    assert h1['test_rmse_exact'] == pytest.approx(h0['test_rmse_exact'], rel=1e-5)
    assert h1['epoch'] == h0['epoch'] and h1['test_rmse_kind'] == h0['test_rmse_kind']
    assert info0['fast'] is False and info1['fast'] is True
    assert info0['hparams'] == info1['hparams'] and info0['seed'] == info1['seed']
    return h0, h1


def test_mf_fast_is_the_faithful_run(tiny, capsys):
    runs = run_both(experiments.train_mf, data_dir=tiny, batch_size=64, num_epochs=4,
                    num_factors=5)
    h0, h1 = assert_same_run(runs)
    assert h0['train_loss'][-1] < h0['train_loss'][0]
    printed = [l for l in capsys.readouterr().out.splitlines() if l.startswith('train loss')]
    assert len(printed) == 2 and printed[0] == printed[1]   # to the printed 3 decimals


def test_fast_path_uses_the_same_adam(tiny, monkeypatch):
    made = []
    real = torch.optim.Adam

    def spy(params, **kwargs):
        made.append(kwargs)
        return real(params, **kwargs)
    monkeypatch.setattr(torch.optim, 'Adam', spy)
    for is_fast in (False, True):
        experiments.train_mf(seed=0, fast=is_fast, data_dir=tiny, batch_size=64, num_epochs=1,
                             plot=False, progress=False, devices='cpu')
    assert made == [{'lr': 0.002, 'weight_decay': 1e-5},
                    {'lr': 0.002, 'weight_decay': 1e-5, 'fused': True}]


def test_autorec_fast_is_the_faithful_run(tiny):
    # Dropout on: the fast path draws the faithful path's masks.
    runs = run_both(experiments.train_autorec, data_dir=tiny, batch_size=64, num_epochs=3,
                    num_hidden=12)
    h0, _ = assert_same_run(runs)
    assert h0['train_loss'][-1] < h0['train_loss'][0]


def test_user_based_autorec_fast_is_the_faithful_run(tiny):
    runs = run_both(experiments.train_autorec, data_dir=tiny, batch_size=16, num_epochs=2,
                    num_hidden=8, user_based=True)
    assert_same_run(runs)


def test_another_seed_is_another_run(tiny):
    _, h0, _ = experiments.train_mf(seed=3, fast=True, data_dir=tiny, batch_size=64,
                                    num_epochs=2, plot=False, progress=False, devices='cpu')
    _, h1, _ = experiments.train_mf(seed=4, fast=True, data_dir=tiny, batch_size=64,
                                    num_epochs=2, plot=False, progress=False, devices='cpu')
    assert h0['train_loss'] != h1['train_loss']


def test_fast_leaves_the_thread_count_as_it_was(tiny):
    before = torch.get_num_threads()
    experiments.train_mf(seed=0, fast=True, data_dir=tiny, batch_size=64, num_epochs=1,
                         plot=False, progress=False, devices='cpu')
    assert torch.get_num_threads() == before
    assert fast.num_threads('mf', [torch.device('cpu')]) == fast.THREADS['mf']
    assert fast.num_threads('mf', [torch.device('cuda', 0)]) is None


def test_fast_runs_on_one_device(tiny, monkeypatch):
    # Two GPUs as PyTorch would report them (devices are checked before the fast path is)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    two = [torch.device('cuda', 0), torch.device('cuda', 1)]
    with pytest.raises(ValueError, match='fast path trains on one device'):
        experiments.train_mf(seed=0, fast=True, data_dir=tiny, devices=two)


def test_fast_reports_a_diverging_run(tiny):
    with pytest.raises(FloatingPointError, match='epoch 1: the loss is nan'):
        experiments.train_mf(seed=0, fast=True, data_dir=tiny, batch_size=64, num_epochs=2,
                             lr=1e30, plot=False, progress=False, devices='cpu')

