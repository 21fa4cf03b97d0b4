r"""Deep Factorization Machines (MXNet): the book's ``DeepFM`` and its hybridized twin.

Book: https://d2l.ai/chapter_recommender-systems/deepfm.html. DeepFM adds to the FM of
:mod:`d2l_recsys.mxnet.fm` an MLP on the concatenated field embeddings, sharing them:

.. math:: \hat{y} = \sigma\big(\hat{y}^{(FM)} + \hat{y}^{(DNN)}\big), \qquad
          \mathbf{z}^{(0)} = [\mathbf{e}_1, \ldots, \mathbf{e}_f], \quad
          \mathbf{z}^{(l)} = \operatorname{relu}(\mathbf{W}^{(l)} \mathbf{z}^{(l-1)}
          + \mathbf{b}^{(l)}),

with dropout after every hidden layer and a last ``Dense(1)``. As FM, it ends with a sigmoid
and the book's loss applies another (see :mod:`d2l_recsys.mxnet.fm`). :class:`HybridDeepFM`
is the same model as a ``HybridBlock`` with the same parameter names.
"""
from mxnet import np, npx
from mxnet.gluon import nn

from .fm import pairwise_terms

npx.set_np()

__all__ = ['DeepFM', 'HybridDeepFM']


class DeepFM(nn.Block):
    def __init__(self, field_dims, num_factors, mlp_dims, drop_rate=0.1):
        super(DeepFM, self).__init__()
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Dense(1, use_bias=True)
        input_dim = self.embed_output_dim = len(field_dims) * num_factors
        self.mlp = nn.Sequential()
        for dim in mlp_dims:
            self.mlp.add(nn.Dense(dim, 'relu', True, in_units=input_dim))
            self.mlp.add(nn.Dropout(rate=drop_rate))
            input_dim = dim
        self.mlp.add(nn.Dense(in_units=input_dim, units=1))

    def forward(self, x):
        embed_x = self.embedding(x)
        square_of_sum = np.sum(embed_x, axis=1) ** 2
        sum_of_square = np.sum(embed_x ** 2, axis=1)
        inputs = np.reshape(embed_x, (-1, self.embed_output_dim))
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdims=True) \
            + self.mlp(inputs)
        x = npx.sigmoid(x)
        return x


class HybridDeepFM(nn.HybridBlock):
    """:class:`DeepFM` as a ``HybridBlock``: the same children and parameter names
    (``mlp`` a ``HybridSequential`` of the same layers), the same forward computation; the
    ``linear_layer``'s weight is initialised at the first call, as the book's is (the same
    seed, the same initial weights)."""
    def __init__(self, field_dims, num_factors, mlp_dims, drop_rate=0.1):
        super(HybridDeepFM, self).__init__()
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Dense(1, use_bias=True)
        self.num_fields = len(field_dims)
        input_dim = self.embed_output_dim = len(field_dims) * num_factors
        self.mlp = nn.HybridSequential()
        for dim in mlp_dims:
            self.mlp.add(nn.Dense(dim, 'relu', True, in_units=input_dim))
            self.mlp.add(nn.Dropout(rate=drop_rate))
            input_dim = dim
        self.mlp.add(nn.Dense(in_units=input_dim, units=1))

    def hybrid_forward(self, F, x):
        embed_x = self.embedding(x)
        square_of_sum, sum_of_square = pairwise_terms(F, x, self.embedding, self.num_fields,
                                                      embed_x, embed_x)
        inputs = F.np.reshape(embed_x, (-1, self.embed_output_dim))
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdims=True) \
            + self.mlp(inputs)
        return F.npx.sigmoid(x)
