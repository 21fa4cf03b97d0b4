r"""Factorization Machines (MXNet): the book's ``FM`` and its hybridized twin.

Book: https://d2l.ai/chapter_recommender-systems/fm.html. A 2-way factorization machine over
one-hot categorical fields (:math:`x_i \in \{0, 1\}`, one active feature per field):

.. math:: \hat{y}(x) = \sigma\Big(w_0 + \sum_i w_i x_i
          + \tfrac12 \sum_{l=1}^{k} \big((\textstyle\sum_i v_{i,l} x_i)^2
          - \sum_i v_{i,l}^2 x_i^2\big)\Big),

the pairwise term :math:`\sum_{i<j} \langle v_i, v_j\rangle x_i x_j` computed in
:math:`O(kd)`. ``embedding`` holds :math:`V` (one row per feature of every field, the fields'
offsets added to the indices), ``fc`` the weights :math:`w_i`, and ``linear_layer`` a
``Dense(1)`` on their sum, whose bias is :math:`w_0` (and whose weight scales the linear term).

The model ends with a sigmoid and the book trains it with
``gluon.loss.SigmoidBinaryCrossEntropyLoss()``, whose ``from_sigmoid=False`` applies a sigmoid
again: the loss sees :math:`\sigma(\hat{y})`, between 0.5 and 0.73, as a logit. That is the
book's model and loss, kept here; the experiment functions report the log loss and AUC of the
model's own probability beside it (:func:`d2l_recsys.clicks.click_metrics`).

:class:`HybridFM` is the same model as a ``HybridBlock`` (same children, so the same parameter
names and files), which the fast path hybridizes.
"""
from mxnet import np, npx
from mxnet.gluon import nn

npx.set_np()

__all__ = ['FM', 'HybridFM']


class FM(nn.Block):
    def __init__(self, field_dims, num_factors):
        super(FM, self).__init__()
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Dense(1, use_bias=True)

    def forward(self, x):
        square_of_sum = np.sum(self.embedding(x), axis=1) ** 2
        sum_of_square = np.sum(self.embedding(x) ** 2, axis=1)
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdims=True)
        x = npx.sigmoid(x)
        return x


class HybridFM(nn.HybridBlock):
    """:class:`FM` as a ``HybridBlock``: the same children (``embedding``, ``fc``,
    ``linear_layer``), the same forward computation, one cached graph when hybridized. The
    ``linear_layer``'s weight is initialised at the first call, as the book's is, so that the
    same seed draws the same initial weights in the same order."""
    def __init__(self, field_dims, num_factors):
        super(HybridFM, self).__init__()
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Dense(1, use_bias=True)

    def hybrid_forward(self, F, x):
        # Two lookups, as the book's forward: their gradients are added in the same order.
        square_of_sum = F.np.sum(self.embedding(x), axis=1) ** 2
        sum_of_square = F.np.sum(self.embedding(x) ** 2, axis=1)
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdims=True)
        return F.npx.sigmoid(x)
