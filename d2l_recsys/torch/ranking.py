r"""The two pairwise ranking losses, in PyTorch.

Book section: "Personalized Ranking for Recommender Systems",
https://d2l.ai/chapter_recommender-systems/ranking.html. The MXNet tab's ``BPRLoss`` and
``HingeLossbRec`` (the book's ``#@save`` classes) as modules with the same call, the same
formulas and the same output shapes.

* :class:`BPRLoss`: :math:`-\sum \ln \sigma(\hat y_{ui} - \hat y_{uj})` over the batch axis,
  kept as a leading axis of one (shape ``(1, ...)``), the log of the sigmoid taken as written.
* :class:`HingeLossbRec`: :math:`\sum \max(m - \hat y_{ui} + \hat y_{uj}, 0)`, a scalar.

The training loop back-propagates their sum divided by the batch size, the gradient of the
book's ``l.backward()`` and ``trainer.step(batch_size)``.
"""
import torch
from torch import nn

__all__ = ['BPRLoss', 'HingeLossbRec']


class BPRLoss(nn.Module):
    def forward(self, positive, negative):
        distances = positive - negative
        loss = - torch.sum(torch.log(torch.sigmoid(distances)), 0, keepdim=True)
        return loss


class HingeLossbRec(nn.Module):
    def forward(self, positive, negative, margin=1):
        distances = positive - negative
        loss = torch.sum(torch.clamp(- distances + margin, min=0))
        return loss
