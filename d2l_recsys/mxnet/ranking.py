r"""Two pairwise ranking losses, in the MXNet tab.

Book section: "Personalized Ranking for Recommender Systems",
https://d2l.ai/chapter_recommender-systems/ranking.html. Both are the book's
``#@save`` classes, unchanged, so the book's cells run with ``d2l.BPRLoss()``; the tests hold
them equal to ``d2l`` 1.0.3's on the same inputs.

* :class:`BPRLoss`, Bayesian personalized ranking: for triples :math:`(u, i, j)` where user
  :math:`u` interacted with item :math:`i` but not with :math:`j`,

  .. math:: -\sum_{(u, i, j) \in D} \ln \sigma(\hat y_{ui} - \hat y_{uj})

  summed over the batch axis (shape ``(1, ...)``: one value per batch, not per example); the
  prior's :math:`\lambda_\Theta \|\Theta\|^2` is the optimizer's weight decay. The log of the
  sigmoid is taken as written, in float32: a difference below about -88 gives ``-inf``.
* :class:`HingeLossbRec`, the ranking hinge loss with margin :math:`m` (default 1):

  .. math:: \sum_{(u, i, j) \in D} \max(m - \hat y_{ui} + \hat y_{uj}, 0),

  summed over everything (a scalar).

The book's training loop back-propagates the sum and calls ``trainer.step(batch_size)``, so
the gradient is that of the batch mean.
"""
from mxnet import gluon, np, npx

npx.set_np()

__all__ = ['BPRLoss', 'HingeLossbRec']


class BPRLoss(gluon.loss.Loss):
    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super(BPRLoss, self).__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, positive, negative):
        distances = positive - negative
        loss = - np.sum(np.log(npx.sigmoid(distances)), 0, keepdims=True)
        return loss


class HingeLossbRec(gluon.loss.Loss):
    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super(HingeLossbRec, self).__init__(weight=None, batch_axis=0,
                                            **kwargs)

    def forward(self, positive, negative, margin=1):
        distances = positive - negative
        loss = np.sum(np.maximum(- distances + margin, 0))
        return loss
