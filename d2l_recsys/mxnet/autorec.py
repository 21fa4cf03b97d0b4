"""AutoRec: Rating Prediction with Autoencoders, the chapter's fourth section, in the MXNet tab.

Book: "AutoRec: Rating Prediction with Autoencoders" (:numref:`sec_autorec`),
https://d2l.ai/chapter_recommender-systems/autorec.html. In the book's order: the model
:class:`AutoRec` (with :data:`ACTIVATIONS`, the names its activations may take; its arguments
are checked by :func:`d2l_recsys.checks.autorec_arguments`, as in every tab) and the section's
evaluator, here :func:`autorec_evaluator` because
the MF section's :func:`~d2l_recsys.mxnet.mf.evaluator` keeps the book's name; after the
book's code, the exact test RMSE :func:`autorec_rmse_exact` and the paper's user-based variant
(:func:`user_based_autorec`, :func:`user_based_matrix`). The section's exercises (more hidden
layers, other activations) are keyword arguments whose defaults give back the book's model.
AutoRec trains with the MF section's ``train_recsys_rating``.
"""
import numpy as onp
from mxnet import npx, autograd, gluon, np
from mxnet.gluon import nn

from .. import metrics
from ..checks import autorec_arguments
from ..defaults import ACTIVATIONS as DEFAULT_ACTIVATIONS, RATING_SCALE

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['AutoRec', 'ACTIVATIONS', 'autorec_evaluator', 'autorec_rmse_exact',
           'user_based_autorec', 'user_based_matrix']

# What ``nn.Dense(activation=...)`` accepts in MXNet 1.9 (other names only fail later, at the
# first forward pass, with a message about shape inference): the names every tab knows.
ACTIVATIONS = DEFAULT_ACTIVATIONS


class AutoRec(nn.Block):
    r"""AutoRec, the autoencoder for rating prediction (book: :numref:`sec_autorec`).

    Item-based (the book's): the input is :math:`\mathbf{R}_{*i}`, item :math:`i`'s column of
    the rating matrix (unknown ratings are zero; in this port that is row :math:`i` of the
    ``(num_items, num_users)`` interaction matrix of ``load_data_ml100k``), and

    .. math:: h(\mathbf{R}_{*i}) = f(\mathbf{W} \cdot g(\mathbf{V} \mathbf{R}_{*i} + \mu) + b)

    with :math:`g` the encoder activation (sigmoid), :math:`f` the decoder's (identity), dropout
    after the encoder. The objective counts observed ratings only,

    .. math:: \min_{\mathbf{W}, \mathbf{V}, \mu, b} \sum_{i=1}^{M}
              \| \mathbf{R}_{*i} - h(\mathbf{R}_{*i}) \|_{\mathcal{O}}^2
              + \lambda (\| \mathbf{W} \|_F^2 + \| \mathbf{V} \|_F^2),

    which the forward pass implements by multiplying the output with
    :math:`\operatorname{sign}(\mathbf{R}_{*i})` while ``autograd.is_training()``, so that the
    gradients of unobserved entries are zero.

    ``num_users`` is the length of the input and output vectors. For the **user-based** variant
    of the paper feed users' rows instead: ``AutoRec(num_hidden, num_items)`` trained on the
    transposed matrix (see :func:`user_based_autorec`, :func:`user_based_matrix`).

    Extras (keyword only; the defaults give the book's model and its parameter names
    ``encoder.*``, ``decoder.*``, so parameter files of the book's model load):

    * ``hidden_layers``: sizes of further hidden layers between the dropout and the decoder,
      e.g. ``(250,)`` gives input -> 500 -> 250 -> output (children ``hidden0``, ``hidden1``...).
    * ``encoder_activation`` (:math:`g`, default ``'sigmoid'``), ``decoder_activation``
      (:math:`f`, default ``None`` = identity), ``hidden_activation`` (default: the encoder's);
      one of :data:`ACTIVATIONS` or ``None``.
    * ``clip``: outside training, keep predictions within the rating scale
      (:data:`~d2l_recsys.defaults.RATING_SCALE`, 1 to 5), which can only bring each one
      closer to a rating; the book's model does not clip (default False).
    """
    def __init__(self, num_hidden, num_users, dropout=0.05, *, hidden_layers=(),
                 encoder_activation='sigmoid', decoder_activation=None,
                 hidden_activation='encoder', clip=False):
        super(AutoRec, self).__init__()
        a = autorec_arguments(num_hidden, num_users, dropout, hidden_layers=hidden_layers,
                              encoder_activation=encoder_activation,
                              decoder_activation=decoder_activation,
                              hidden_activation=hidden_activation, clip=clip)
        self.clip = a.clip
        self.encoder = nn.Dense(a.num_hidden, activation=a.encoder_activation,
                                use_bias=True)
        self.decoder = nn.Dense(a.num_users, activation=a.decoder_activation,
                                use_bias=True)
        self.dropout = nn.Dropout(a.dropout)
        # Children are registered by attribute; names are kept (not a list of blocks, which
        # Gluon would not register) so saved parameter files have stable keys.
        self.hidden_names = tuple(f'hidden{j}' for j in range(len(a.hidden_layers)))
        for name, units in zip(self.hidden_names, a.hidden_layers):
            setattr(self, name, nn.Dense(units, activation=a.hidden_activation,
                                         use_bias=True))

    def forward(self, input):
        hidden = self.dropout(self.encoder(input))
        for name in self.hidden_names:
            hidden = getattr(self, name)(hidden)
        pred = self.decoder(hidden)
        if autograd.is_training():  # Mask the gradient during training
            return pred * np.sign(input)
        elif self.clip:
            return np.clip(pred, *RATING_SCALE)
        else:
            return pred


def autorec_evaluator(network, inter_matrix, test_data, devices):
    """The book's AutoRec evaluator (:numref:`sec_autorec`, there named ``evaluator``).

    ``inter_matrix`` iterates over the *training* interaction matrix in order (the book passes a
    non-shuffled DataLoader as ``test_iter``), the network reconstructs every row, and the RMSE
    is taken over the observed entries of ``test_data`` (the test interaction matrix). This one
    is already the exact test RMSE.
    """
    scores = []
    for values in inter_matrix:
        feat = gluon.utils.split_and_load(values, devices, even_split=False)
        scores.extend([network(i).asnumpy() for i in feat])
    recons = np.array([item for sublist in scores for item in sublist])
    # Calculate the test RMSE
    rmse = np.sqrt(np.sum(np.square(test_data - np.sign(test_data) * recons))
                   / np.sum(np.sign(test_data)))
    return float(rmse)


def autorec_rmse_exact(network, inter_matrix, test_data, devices):
    """Exact test RMSE of AutoRec (:func:`d2l_recsys.metrics.masked_rmse`), same inputs as
    :func:`autorec_evaluator`; ``inter_matrix`` may also be a whole matrix instead of an
    iterable of row batches."""
    if hasattr(inter_matrix, 'shape'):
        inter_matrix = [inter_matrix]
    parts = []
    for values in inter_matrix:
        feat = gluon.utils.split_and_load(values, devices, even_split=False)
        parts.extend(network(x).asnumpy() for x in feat)
    return metrics.masked_rmse(onp.concatenate(parts), test_data)


def user_based_autorec(num_hidden, num_items, dropout=0.05, **extras):
    """The user-based AutoRec of the paper: the same block, fed one user's ratings of all items.

    It is ``AutoRec(num_hidden, num_items, ...)``; train and evaluate it on the transposed
    interaction matrices (:func:`user_based_matrix`), e.g.
    ``autorec_evaluator(net, user_based_matrix(train_inter_mat), user_based_matrix(
    test_inter_mat), devices)``. Row :math:`u` of its output is user :math:`u`'s predicted
    ratings of every item.
    """
    return AutoRec(num_hidden, num_items, dropout, **extras)


def user_based_matrix(inter_mat):
    """The ``(num_users, num_items)`` matrix of a book ``(num_items, num_users)`` one."""
    return inter_mat.T
