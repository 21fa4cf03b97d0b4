r"""Factorization Machines (PyTorch): the book's ``FM`` as an ``nn.Module``.

Book: https://d2l.ai/chapter_recommender-systems/fm.html.

The MXNet tab's :class:`d2l_recsys.mxnet.fm.FM` translated: the same children (``embedding``
:math:`V`, ``fc`` the linear weights, ``linear_layer`` a ``Linear(1, 1)`` whose bias is
:math:`w_0`), the same forward (two lookups, the pairwise term in :math:`O(kd)`, a final
sigmoid), so that one set of weights gives the same outputs in both frameworks.
:func:`xavier_init` is the book's ``net.initialize(init.Xavier())``: MXNet's Xavier (uniform,
``factor_type='avg'``, magnitude 3) is PyTorch's ``xavier_uniform_``, the same bound
:math:`\sqrt{6 / (\mathit{fan}_{in} + \mathit{fan}_{out})}` with the same fans (an
embedding's rows are its fan-out), and Gluon starts biases at zero.

As in the book, the model's output is a probability and the book's loss applies a sigmoid to
it again: ``nn.BCEWithLogitsLoss(reduction='none')`` on this output is Gluon's
``SigmoidBinaryCrossEntropyLoss()`` (see :mod:`d2l_recsys.mxnet.fm`).
"""
import torch
from torch import nn

from ..checks import click_arguments

__all__ = ['FM', 'xavier_init']


def xavier_init(module):
    """Gluon's ``init.Xavier()`` on one module, for ``net.apply(xavier_init)``: Xavier-uniform
    weights for embeddings and linear layers, zero biases."""
    if isinstance(module, (nn.Embedding, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class FM(nn.Module):
    def __init__(self, field_dims, num_factors):
        super(FM, self).__init__()
        click_arguments(field_dims, num_factors)
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Linear(1, 1, bias=True)

    def forward(self, x):
        square_of_sum = torch.sum(self.embedding(x), dim=1) ** 2
        sum_of_square = torch.sum(self.embedding(x) ** 2, dim=1)
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdim=True)
        x = torch.sigmoid(x)
        return x
