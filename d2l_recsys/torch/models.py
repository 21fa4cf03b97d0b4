"""The chapters' two rating models as PyTorch modules: matrix factorization and AutoRec.

Book sections: "Matrix Factorization" (:numref:`sec_mf`) and "AutoRec: Rating Prediction with
Autoencoders" (:numref:`sec_autorec`). ``MF`` translates the book's Gluon block; ``AutoRec`` is
the PyTorch AutoRec deck's module, with the paper's user-based variant and the section's
exercises (more hidden layers, other activations) as keyword arguments whose defaults give back
the deck's model. Parameter names and shapes follow the MXNet tab's (``P``, ``Q``,
``user_bias``, ``item_bias``; ``encoder``, ``decoder``, with ``nn.Linear``'s ``(out, in)``
weights as Gluon's ``Dense``), so one set of weights fits both frameworks.
"""
import torch
from torch import nn

from ..defaults import RATING_SCALE

__all__ = ['MF', 'AutoRec', 'L2Loss', 'ACTIVATIONS', 'user_based_autorec',
           'user_based_matrix']

# The names MXNet's Dense layer accepts (the MXNet tab's ACTIVATIONS), as PyTorch modules, so
# a saved model's description means the same in both frameworks.
ACTIVATIONS = {'sigmoid': nn.Sigmoid, 'relu': nn.ReLU, 'tanh': nn.Tanh,
               'softrelu': nn.Softplus, 'softsign': nn.Softsign}


class MF(nn.Module):
    r"""Matrix factorization with user and item biases (book: :numref:`sec_mf`).

    The predicted rating of user :math:`u` for item :math:`i` is

    .. math:: \hat{R}_{ui} = \mathbf{p}_u \mathbf{q}_i^\top + b_u + b_i,

    with :math:`\mathbf{p}_u` row :math:`u` of the user factors ``P``, :math:`\mathbf{q}_i` row
    :math:`i` of the item factors ``Q`` and the biases ``user_bias``, ``item_bias``. Trained on

    .. math:: \min_{\mathbf{P}, \mathbf{Q}, b} \sum_{(u, i) \in \mathcal{K}}
              \| R_{ui} - \hat{R}_{ui} \|^2 + \lambda (\| \mathbf{P} \|_F^2
              + \| \mathbf{Q} \|_F^2 + b_u^2 + b_i^2)

    (:class:`L2Loss`, :math:`\lambda` as Adam's ``weight_decay``). The four embeddings start
    from :math:`\mathcal{N}(0, 0.01^2)`, the book's ``init=mx.init.Normal(0.01)`` (PyTorch's
    own default would be :math:`\mathcal{N}(0, 1)`). ``forward`` takes 0-based user and item
    indices (integer tensors) and returns one score per pair.
    """
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super(MF, self).__init__(**kwargs)
        self.P = nn.Embedding(num_embeddings=num_users, embedding_dim=num_factors)
        self.Q = nn.Embedding(num_embeddings=num_items, embedding_dim=num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        for param in self.parameters():
            nn.init.normal_(param, mean=0, std=0.01)

    def forward(self, user_id, item_id):
        P_u = self.P(user_id)
        Q_i = self.Q(item_id)
        b_u = self.user_bias(user_id)
        b_i = self.item_bias(item_id)
        outputs = (P_u * Q_i).sum(axis=1) + torch.squeeze(b_u) + torch.squeeze(b_i)
        return outputs.flatten()


class L2Loss(nn.Module):
    r"""Gluon's ``L2Loss``: :math:`\frac{1}{2}(\hat{y} - y)^2`, averaged over all axes but the
    first, one value per example (no reduction over the batch).

    The book's loop back-propagates the sum of these and calls ``trainer.step(batch_size)``,
    which divides the gradient by the batch size; ``train_recsys_rating`` here does the same
    by back-propagating their mean. For MF that is half the squared error averaged over the
    batch; for AutoRec also averaged over the users of each row.
    """
    def forward(self, pred, label):
        loss = 0.5 * torch.square(label.reshape(pred.shape) - pred)
        return loss.mean(dim=tuple(range(1, loss.dim()))) if loss.dim() > 1 else loss


def _activation(name, what):
    if name is None:
        return nn.Identity()
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]()
    raise ValueError(f"{what}={name!r} is not one of the activations {', '.join(ACTIVATIONS)} "
                     f"(or None)")


class AutoRec(nn.Module):
    r"""AutoRec, the autoencoder for rating prediction (the PyTorch AutoRec deck's module).

    Item-based (the deck's): the input is :math:`\mathbf{R}_{*i}`, item :math:`i`'s ratings by
    every user (zeros where unknown; row :math:`i` of the ``(num_items, num_users)`` matrix of
    ``load_data_ml100k``), and

    .. math:: h(\mathbf{R}_{*i}) = f(\mathbf{W} \cdot g(\mathbf{V} \mathbf{R}_{*i} + \mu) + b)

    with :math:`g` the encoder activation (sigmoid), :math:`f` the decoder's (identity) and
    dropout (0.05) after the encoder. Only observed ratings count:

    .. math:: \min_{\mathbf{W}, \mathbf{V}, \mu, b} \sum_{i=1}^{M}
              \| \mathbf{R}_{*i} - h(\mathbf{R}_{*i}) \|_{\mathcal{O}}^2
              + \lambda (\| \mathbf{W} \|_F^2 + \| \mathbf{V} \|_F^2),

    so in training mode the output is multiplied by :math:`\operatorname{sign}(\mathbf{R}_{*i})`
    and the unobserved entries get no gradient. ``num_users`` is the length of the input and
    output rows; the paper's **user-based** variant is ``AutoRec(num_hidden, num_items)`` fed
    users' rows (:func:`user_based_autorec`, :func:`user_based_matrix`).

    Extras (keyword only; the defaults give the deck's module and its parameter names):
    ``hidden_layers``, sizes of further layers between the dropout and the decoder (children
    ``hidden.0``, ``hidden.1``, ...); ``encoder_activation`` (:math:`g`, ``'sigmoid'``),
    ``decoder_activation`` (:math:`f`, ``None`` = identity) and ``hidden_activation``
    (default: the encoder's), each a name of :data:`ACTIVATIONS` or ``None``;
    ``input_dropout``, as the MXNet tab's fast path has it: while training, each observed
    input rating is dropped with this probability (the rest scaled by :math:`1/(1-p)`), while
    the loss still covers every observed rating, so the model learns to fill in ratings it was
    not shown (denoising); 0, the deck's, drops none and draws nothing. It has no parameters:
    a model trained with it predicts and saves as any other. ``clip=True``: outside training,
    predictions are clipped to the rating scale (:data:`~d2l_recsys.defaults.RATING_SCALE`),
    which can only bring each one closer to a rating; training is unchanged.
    """
    def __init__(self, num_hidden, num_users, dropout=0.05, *, hidden_layers=(),
                 encoder_activation='sigmoid', decoder_activation=None,
                 hidden_activation='encoder', input_dropout=0., clip=False):
        super().__init__()
        self.clip = bool(clip)
        if not 0 <= input_dropout < 1:
            raise ValueError(f'input_dropout must be in [0, 1), got {input_dropout!r}')
        self.input_dropout = float(input_dropout)
        if hidden_activation == 'encoder':
            hidden_activation = encoder_activation
        hidden_layers = tuple(int(h) for h in hidden_layers)
        if any(h <= 0 for h in (num_hidden, num_users) + hidden_layers):
            raise ValueError('AutoRec layer sizes must be positive, got num_hidden='
                             f'{num_hidden}, num_users={num_users}, '
                             f'hidden_layers={hidden_layers}')
        self.encoder = nn.Linear(num_users, num_hidden)
        self.decoder = nn.Linear(hidden_layers[-1] if hidden_layers else num_hidden, num_users)
        self.dropout = nn.Dropout(dropout)
        self.encoder_activation = _activation(encoder_activation, 'encoder_activation')
        self.decoder_activation = _activation(decoder_activation, 'decoder_activation')
        sizes = (num_hidden,) + hidden_layers
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(n_in, n_out),
                          _activation(hidden_activation, 'hidden_activation'))
            for n_in, n_out in zip(sizes[:-1], sizes[1:]))

    def forward(self, input):
        # Dropout is the identity outside training; unobserved entries are zeros either way.
        shown = (nn.functional.dropout(input, self.input_dropout, self.training)
                 if self.input_dropout else input)
        hidden = self.dropout(self.encoder_activation(self.encoder(shown)))
        for layer in self.hidden:
            hidden = layer(hidden)
        pred = self.decoder_activation(self.decoder(hidden))
        if self.training:  # Mask the gradient during training
            return pred * torch.sign(input)
        else:
            return torch.clamp(pred, *RATING_SCALE) if self.clip else pred


def user_based_autorec(num_hidden, num_items, dropout=0.05, **extras):
    """The paper's user-based AutoRec: ``AutoRec(num_hidden, num_items, ...)``, to be trained
    and evaluated on the transposed matrices (:func:`user_based_matrix`); row :math:`u` of its
    output is user :math:`u`'s predicted rating of every item."""
    return AutoRec(num_hidden, num_items, dropout, **extras)


def user_based_matrix(inter_mat):
    """The ``(num_users, num_items)`` matrix of a book ``(num_items, num_users)`` one."""
    return inter_mat.T
