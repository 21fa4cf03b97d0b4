"""AutoRec: Rating Prediction with Autoencoders, the chapter's fourth section, in the PyTorch tab.

Book: "AutoRec: Rating Prediction with Autoencoders" (:numref:`sec_autorec`),
https://d2l.ai/chapter_recommender-systems/autorec.html, as the PyTorch AutoRec deck writes
it. In the book's order: the model :class:`AutoRec` (with :data:`ACTIVATIONS`, the names its
activations may take, as PyTorch modules) and the deck's evaluator, here
:func:`autorec_evaluator` because the MF section's :func:`~d2l_recsys.torch.mf.evaluator` keeps
the book's name; after the book's code, the exact test RMSE :func:`autorec_rmse_exact` and the
paper's user-based variant (:func:`user_based_autorec`, :func:`user_based_matrix`). The
section's exercises (more hidden layers, other activations) are keyword arguments whose
defaults give back the deck's model; parameter names and shapes follow the MXNet tab's
(``encoder``, ``decoder``, with ``nn.Linear``'s ``(out, in)`` weights as Gluon's ``Dense``).
AutoRec trains with the MF section's ``train_recsys_rating``.
"""
import numpy as onp
import torch
from torch import nn

from .. import metrics
from ..checks import autorec_arguments
from ..defaults import RATING_SCALE

__all__ = ['AutoRec', 'ACTIVATIONS', 'autorec_evaluator', 'autorec_rmse_exact',
           'user_based_autorec', 'user_based_matrix']

# The names MXNet's Dense layer accepts (:data:`d2l_recsys.defaults.ACTIVATIONS`), as PyTorch
# modules, so a saved model's description means the same in both frameworks.
ACTIVATIONS = {'sigmoid': nn.Sigmoid, 'relu': nn.ReLU, 'tanh': nn.Tanh,
               'softrelu': nn.Softplus, 'softsign': nn.Softsign}


def _activation(name):
    # ``name`` is checked (:func:`d2l_recsys.checks.autorec_arguments`): None is the identity.
    return nn.Identity() if name is None else ACTIVATIONS[name]()


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
        # The arguments are checked as the MXNet tab's AutoRec checks them.
        a = autorec_arguments(num_hidden, num_users, dropout, hidden_layers=hidden_layers,
                              encoder_activation=encoder_activation,
                              decoder_activation=decoder_activation,
                              hidden_activation=hidden_activation,
                              input_dropout=input_dropout, clip=clip)
        self.clip, self.input_dropout = a.clip, a.input_dropout
        self.encoder = nn.Linear(a.num_users, a.num_hidden)
        sizes = (a.num_hidden,) + a.hidden_layers
        self.decoder = nn.Linear(sizes[-1], a.num_users)
        self.dropout = nn.Dropout(a.dropout)
        self.encoder_activation = _activation(a.encoder_activation)
        self.decoder_activation = _activation(a.decoder_activation)
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(n_in, n_out), _activation(a.hidden_activation))
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


def autorec_evaluator(network, inter_matrix, test_data, devices):
    """The PyTorch AutoRec deck's evaluator (there named ``evaluator``).

    ``inter_matrix`` iterates over the *training* interaction matrix in row order (the deck
    passes a non-shuffled DataLoader as ``test_iter``); the network reconstructs every row and
    the RMSE is taken over the observed entries of ``test_data`` (the test interaction matrix,
    NumPy): already the exact test RMSE.
    """
    network.eval()
    scores = []
    with torch.no_grad():
        for values in inter_matrix:
            values = values.to(devices[0])
            scores.append(network(values).cpu().numpy())
    recons = onp.concatenate(scores, axis=0)
    # Calculate the test RMSE
    rmse = onp.sqrt(
        onp.sum(onp.square(test_data - onp.sign(test_data) * recons))
        / onp.sum(onp.sign(test_data)))
    return float(rmse)


def autorec_rmse_exact(network, inter_matrix, test_data, devices):
    """Exact test RMSE of AutoRec, same inputs as :func:`autorec_evaluator` (which is already
    exact): :func:`d2l_recsys.metrics.masked_rmse` of the reconstruction, float64.
    ``inter_matrix`` may be a DataLoader of row batches or a whole matrix."""
    if hasattr(inter_matrix, 'shape'):
        inter_matrix = [torch.as_tensor(onp.asarray(inter_matrix), dtype=torch.float32)]
    network.eval()
    parts = []
    with torch.no_grad():
        for values in inter_matrix:
            parts.append(network(values.to(devices[0])).cpu().numpy())
    return metrics.masked_rmse(onp.concatenate(parts), test_data)


def user_based_autorec(num_hidden, num_items, dropout=0.05, **extras):
    """The paper's user-based AutoRec: ``AutoRec(num_hidden, num_items, ...)``, to be trained
    and evaluated on the transposed matrices (:func:`user_based_matrix`); row :math:`u` of its
    output is user :math:`u`'s predicted rating of every item."""
    return AutoRec(num_hidden, num_items, dropout, **extras)


def user_based_matrix(inter_mat):
    """The ``(num_users, num_items)`` matrix of a book ``(num_items, num_users)`` one."""
    return inter_mat.T
