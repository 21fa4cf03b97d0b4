"""The PyTorch AutoRec deck's cells, with only their import line changed, run on the PyTorch
tab (on a CPU, without a display, without torchvision), here on small synthetic data."""
import re

import numpy as onp
import pytest

torch = pytest.importorskip('torch')

from synthetic import write_ml100k  # noqa: E402

# The deck's code cells, verbatim (setup, model, evaluator, training).
DECK_CELLS = [
    '''from d2l import torch as d2l
import torch
from torch import nn
import numpy as np
''',
    '''class AutoRec(nn.Module):
    def __init__(self, num_hidden, num_users, dropout=0.05):
        super().__init__()
        self.encoder = nn.Linear(num_users, num_hidden)
        self.decoder = nn.Linear(num_hidden, num_users)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input):
        hidden = self.dropout(torch.sigmoid(self.encoder(input)))
        pred = self.decoder(hidden)
        if self.training:  # Mask the gradient during training
            return pred * torch.sign(input)
        else:
            return pred
''',
    '''def evaluator(network, inter_matrix, test_data, devices):
    network.eval()
    scores = []
    with torch.no_grad():
        for values in inter_matrix:
            values = values.to(devices[0])
            scores.append(network(values).cpu().numpy())
    recons = np.concatenate(scores, axis=0)
    # Calculate the test RMSE
    rmse = np.sqrt(
        np.sum(np.square(test_data - np.sign(test_data) * recons))
        / np.sum(np.sign(test_data)))
    return float(rmse)
''',
    '''devices = d2l.try_all_gpus()
# Load the MovieLens 100K dataset
df, num_users, num_items = d2l.read_data_ml100k()
train_data, test_data = d2l.split_data_ml100k(df, num_users, num_items)
_, _, _, train_inter_mat = d2l.load_data_ml100k(train_data, num_users,
                                                num_items)
_, _, _, test_inter_mat = d2l.load_data_ml100k(test_data, num_users,
                                               num_items)
train_inter_mat_t = torch.tensor(train_inter_mat, dtype=torch.float32)
test_inter_mat_np = np.array(test_inter_mat)
train_iter = torch.utils.data.DataLoader(train_inter_mat_t, shuffle=True,
                                         drop_last=True, batch_size=256,
                                         num_workers=d2l.get_dataloader_workers())
test_iter = torch.utils.data.DataLoader(train_inter_mat_t, shuffle=False,
                                        batch_size=1024,
                                        num_workers=d2l.get_dataloader_workers())
# Model initialization, training, and evaluation
net = AutoRec(500, num_users)
nn.init.normal_(net.encoder.weight, std=0.01)
nn.init.normal_(net.decoder.weight, std=0.01)
net = net.to(devices[0])
lr, num_epochs, wd = 0.002, 25, 1e-5
loss = nn.MSELoss(reduction='sum')
optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)
timer = d2l.Timer()
animator = d2l.Animator(xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 2],
                        legend=['train loss', 'test RMSE'])
for epoch in range(num_epochs):
    net.train()
    total_loss, n = 0., 0
    for i, values in enumerate(train_iter):
        timer.start()
        values = values.to(devices[0])
        optimizer.zero_grad()
        preds = net(values)
        l = loss(preds, values * torch.sign(values))
        l.backward()
        optimizer.step()
        total_loss += l.item()
        n += values.shape[0]
        timer.stop()
    test_rmse = evaluator(net, test_iter, test_inter_mat_np, devices)
    train_l = total_loss / n
    animator.add(epoch + 1, (train_l, test_rmse))
print(f'train loss {total_loss / n:.3f}, test RMSE {test_rmse:.3f}')
''']
IMPORT = 'from d2l import torch as d2l'


def deck_source():
    """The deck's cells with the one change: the import line."""
    source = '\n'.join(DECK_CELLS)
    assert source.count(IMPORT) == 1
    return source.replace(IMPORT, 'from d2l_recsys import torch as d2l')


def point_data_at(monkeypatch, folder):
    """Make ``read_data_ml100k()`` (no argument, as the deck calls it) find ``folder``."""
    from d2l_recsys import fetch
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda path=None, **kwargs: folder)


def test_deck_cells_run_with_only_the_import_changed(tmp_path, monkeypatch, capsys):
    # 600 items: the deck's loader drops the last short batch of 256 rows.
    folder = write_ml100k(str(tmp_path / 'data'), num_users=60, num_items=600, density=0.1)
    point_data_at(monkeypatch, folder)
    torch.manual_seed(0)
    onp.random.seed(0)
    scope = {'__name__': '__deck__'}
    exec(compile(deck_source(), 'deck', 'exec'), scope)
    printed = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r'train loss (\d+\.\d{3}), test RMSE (\d+\.\d{3})', printed[-1])
    assert match, printed
    net, animator = scope['net'], scope['animator']
    train_loss, test_rmse = animator.Y
    assert len(test_rmse) == 25 and train_loss[-1] < train_loss[0] / 5
    assert float(match.group(2)) == pytest.approx(test_rmse[-1], abs=5e-4)
    # The printed RMSE is the exact RMSE over the test ratings of the trained network.
    from d2l_recsys.torch import autorec_rmse_exact
    exact = autorec_rmse_exact(net, scope['train_inter_mat_t'], scope['test_inter_mat_np'],
                               scope['devices'])
    assert exact == pytest.approx(test_rmse[-1], rel=1e-5)
    # ... and it learnt: better than predicting every item's training mean.
    train, test = scope['train_inter_mat'], scope['test_inter_mat_np']
    means = train.sum(1) / onp.maximum((train > 0).sum(1), 1)
    baseline = onp.sqrt((((test - means[:, None]) * (test > 0)) ** 2).sum() / (test > 0).sum())
    assert exact < baseline
