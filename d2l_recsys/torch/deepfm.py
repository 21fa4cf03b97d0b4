r"""Deep Factorization Machines (PyTorch): the book's ``DeepFM`` as an ``nn.Module``.

Book: https://d2l.ai/chapter_recommender-systems/deepfm.html.

The MXNet tab's :class:`d2l_recsys.mxnet.deepfm.DeepFM` translated with the same children and
parameter names: ``mlp`` is a ``Sequential`` of :class:`Dense` layers (a ``Linear`` with
Gluon's ``activation``) and ``Dropout``\ s at the indices Gluon gives them (``mlp.0``,
``mlp.2``, ... the dense layers), so a weight file maps one to one. Initialise it with
``net.apply(xavier_init)`` (:func:`d2l_recsys.torch.fm.xavier_init`), the book's
``init.Xavier()``.
"""
import torch
from torch import nn

from ..checks import click_arguments

__all__ = ['DeepFM', 'Dense']


class Dense(nn.Linear):
    """Gluon's ``nn.Dense(units, activation, use_bias, in_units)``: a ``Linear`` layer
    followed by its activation (``'relu'`` or None)."""
    def __init__(self, units, activation=None, use_bias=True, in_units=0):
        super(Dense, self).__init__(in_units, units, bias=use_bias)
        if activation not in (None, 'relu'):
            raise ValueError(f"activation must be 'relu' or None, got {activation!r}")
        self.activation = activation

    def forward(self, x):
        x = super(Dense, self).forward(x)
        return torch.relu(x) if self.activation == 'relu' else x


class DeepFM(nn.Module):
    def __init__(self, field_dims, num_factors, mlp_dims, drop_rate=0.1):
        super(DeepFM, self).__init__()
        click_arguments(field_dims, num_factors, mlp_dims, drop_rate)
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Linear(1, 1, bias=True)
        input_dim = self.embed_output_dim = len(field_dims) * num_factors
        self.mlp = nn.Sequential()
        for dim in mlp_dims:
            self.mlp.append(Dense(dim, 'relu', True, in_units=input_dim))
            self.mlp.append(nn.Dropout(p=drop_rate))
            input_dim = dim
        self.mlp.append(Dense(in_units=input_dim, units=1))

    def forward(self, x):
        embed_x = self.embedding(x)
        square_of_sum = torch.sum(embed_x, dim=1) ** 2
        sum_of_square = torch.sum(embed_x ** 2, dim=1)
        inputs = torch.reshape(embed_x, (-1, self.embed_output_dim))
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdim=True) \
            + self.mlp(inputs)
        x = torch.sigmoid(x)
        return x
