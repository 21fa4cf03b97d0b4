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
names and files), which the fast path hybridizes. It computes the book's numbers bit for bit
with operators MXNet runs sooner (:func:`pairwise_terms`): a step takes about a third of the
CPU time of the book's operators.
"""
import mxnet as mx
from mxnet import np, npx
from mxnet.gluon import nn

npx.set_np()

__all__ = ['FM', 'HybridFM', 'pairwise_terms', 'kahan_sum']


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


def _stop(F, x):
    """``x`` with no gradient (MXNet's ``BlockGrad``; the NumPy interface has none)."""
    return F.BlockGrad(x.as_nd_ndarray()).as_np_ndarray()


def _weight(F, param, like):
    """A child's parameter inside a parent's ``hybrid_forward``: its variable while the graph
    is built, its value on ``like``'s device otherwise."""
    if F is mx.ndarray:
        return param.data(like.ctx)
    return param.var().as_np_ndarray()


def kahan_sum(parts):
    """``np.sum`` of ``parts`` stacked on a middle axis, as MXNet's reduction computes it: a
    compensated (Kahan) sum, parts in order, from 0; the same float32 numbers, bit for bit,
    from elementwise operators (the reduction's own kernel is slow on a middle axis)."""
    val, res = parts[0] + 0.0, None
    for i in range(1, len(parts)):
        y = parts[i] if res is None else parts[i] - res
        t = val + y
        if i < len(parts) - 1:
            res = (t - val) - y
        val = t
    return val


def pairwise_terms(F, x, embedding, num_fields, embed_x=None, embed_x2=None):
    r"""The book's ``square_of_sum`` and ``sum_of_square`` (both (batch, k)) for the field
    indices ``x`` (batch, ``num_fields``) and the ``nn.Embedding`` child ``embedding``, with the values
    and the gradients the book's operators give, bit for bit, in about a third of their time.

    The book computes ``np.sum(e, axis=1) ** 2`` and ``np.sum(e ** 2, axis=1)`` on the looked-up
    ``e`` (batch, fields, k). On a CPU MXNet's reduction over that middle axis and its ``pow``
    (``powf``, which is not ``x * x``: they differ in the last bit) are its slowest operators.
    Here the values come from each field's rows looked up on their own, added as the reduction
    adds them (:func:`kahan_sum`), the squares from ``powf`` of the embedding table (its rows
    are fewer than the batch's lookups) looked up the same way. The gradients go through the
    book's own lookups ``embed_x`` and ``embed_x2`` (default: two lookups, as the book's
    forward makes them), each added as a term whose value is exactly 0: ``u - stop(u)``,
    where ``u`` sums the fields by a product with a 0/1 matrix, whose gradient is the
    reduction's (each field gets the output's gradient ``g``), and ``e * stop(2 e)``, whose
    gradient is the one ``pow``'s backward computes, ``g * (2 e)``. Only the book's two
    lookups carry gradients to the embedding, so its gradient is added as the book's is.
    """
    n, K = num_fields, embedding._kwargs['output_dim']
    rows = embedding._kwargs['input_dim']
    if embed_x is None:
        embed_x = embedding(x)
    if embed_x2 is None:
        embed_x2 = embedding(x)
    w = _stop(F, _weight(F, embedding.weight, x))
    cols = [_stop(F, F.npx.slice(x, begin=(None, f), end=(None, f + 1)).reshape(-1))
            for f in range(n)]

    def lookup(table):
        return [F.npx.embedding(c, table, input_dim=rows, output_dim=K) for c in cols]
    total = _stop(F, kahan_sum(lookup(w)))              # np.sum(e, axis=1)
    squares = _stop(F, kahan_sum(lookup(w ** 2)))       # np.sum(e ** 2, axis=1)
    eye = F.np.eye(K, ctx=x.ctx) if F is mx.ndarray else F.np.eye(K)
    ones = _stop(F, F.np.tile(eye, (1, n)))             # (k, fields * k): sums over fields

    def by_product(z):
        return F.npx.fully_connected(z.reshape(-1, n * K), ones, num_hidden=K, no_bias=True,
                                     flatten=False)
    u1 = by_product(embed_x)
    u2 = by_product(embed_x2 * _stop(F, embed_x2 * 2.0))
    square_of_sum = _stop(F, total ** 2) + (u1 - _stop(F, u1)) * _stop(F, total * 2.0)
    sum_of_square = squares + (u2 - _stop(F, u2))
    return square_of_sum, sum_of_square


class HybridFM(nn.HybridBlock):
    """:class:`FM` as a ``HybridBlock``: the same children (``embedding``, ``fc``,
    ``linear_layer``), the same numbers (its forward computes the book's terms with
    :func:`pairwise_terms`), one cached graph when hybridized. The ``linear_layer``'s weight is
    initialised at the first call, as the book's is, so that the same seed draws the same
    initial weights in the same order."""
    def __init__(self, field_dims, num_factors):
        super(HybridFM, self).__init__()
        num_inputs = int(sum(field_dims))
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.num_fields = len(field_dims)
        self.fc = nn.Embedding(num_inputs, 1)
        self.linear_layer = nn.Dense(1, use_bias=True)

    def hybrid_forward(self, F, x):
        square_of_sum, sum_of_square = pairwise_terms(F, x, self.embedding, self.num_fields)
        x = self.linear_layer(self.fc(x).sum(1)) \
            + 0.5 * (square_of_sum - sum_of_square).sum(1, keepdims=True)
        return F.npx.sigmoid(x)
