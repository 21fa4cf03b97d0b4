"""The MXNet tab: ``from d2l_recsys import mxnet as d2l`` gives what the book's cells call.

The chapter's MXNet cells (https://d2l.ai/chapter_recommender-systems/) run with only their
import line changed: the MovieLens functions, ``train_recsys_rating``, ``try_all_gpus``,
``Timer``, ``Accumulator``, ``Animator``, ``get_dataloader_workers`` and ``plt`` are here, with
this project's fixes (the data comes from a checked cache or mirror, ``try_all_gpus`` falls
back to the CPU, the Animator works headless and in Jupyter). So are the models, evaluators
and experiments of the sections, the ranking half's (``BPRLoss``, ``HingeLossbRec``, ``NeuMF``,
``PRDataset``, ``hit_and_auc``, ``evaluate_ranking``, ``train_ranking``, ``Caser``,
``SeqDataset``), and the fast paths (:mod:`d2l_recsys.mxnet.fast`,
:mod:`d2l_recsys.mxnet.fast_ranking`).

Each section of the chapter is a module named after its page of the book, holding what the
section defines in the book's order: :mod:`~d2l_recsys.mxnet.movielens`,
:mod:`~d2l_recsys.mxnet.mf`, :mod:`~d2l_recsys.mxnet.autorec`, the ranking half's
:mod:`~d2l_recsys.mxnet.ranking`, :mod:`~d2l_recsys.mxnet.neumf`,
:mod:`~d2l_recsys.mxnet.seqrec`, and the feature-rich sections' :mod:`~d2l_recsys.mxnet.ctr`
(``DATA_HUB``, ``download_extract``, ``CTRDataset``), :mod:`~d2l_recsys.mxnet.fm` and
:mod:`~d2l_recsys.mxnet.deepfm`. Beside them, what several sections share:
:mod:`~d2l_recsys.mxnet.devices`, :mod:`~d2l_recsys.mxnet.experiments`,
:mod:`~d2l_recsys.mxnet.fast`, :mod:`~d2l_recsys.mxnet.fast_ranking`,
:mod:`~d2l_recsys.mxnet.predict` and :mod:`~d2l_recsys.mxnet.classification` (the
computer-vision chapter's ``train_ch13`` with its helpers, which the FM and DeepFM sections
call).
"""
# First, before anything here imports MXNet: NumPy 1.24+ needs one alias back for MXNet 1.9.1,
# and where MXNet cannot run this stops with one line saying what to do.
from .. import compat  # noqa: F401  (isort: skip)
from ..data import read_u_data
from ..plotting import Animator, set_axes
from ..utils import Accumulator, Timer
from .movielens import (load_data_ml100k, load_data_ml100k_fast, read_data_ml100k,
                        read_item_titles, split_and_load_ml100k, split_data_ml100k,
                        split_data_ml100k_fast)
from .mf import MF, evaluator, rmse_exact, train_recsys_rating
from .autorec import (ACTIVATIONS, AutoRec, autorec_evaluator, autorec_rmse_exact,
                      user_based_autorec, user_based_matrix)
from .ctr import CTRDataset, CTRDatasetFast, DATA_HUB, DATA_URL, download_extract
from .fm import FM, HybridFM
from .deepfm import DeepFM, HybridDeepFM
from .classification import (accuracy, evaluate_accuracy_gpus, predict_clicks, split_batch,
                             train_batch_ch13, train_ch13, train_ch13_fast)
from .devices import check_gpu, get_dataloader_workers, parse_devices, try_all_gpus
from .experiments import (load_autorec_data, load_ctr_data, load_mf_data, set_seed,
                          train_autorec, train_caser, train_deepfm, train_fm, train_mf,
                          train_neumf)
from .ranking import BPRLoss, HingeLossbRec
from .neumf import (NeuMF, PRDataset, evaluate_ranking, hit_and_auc, score_matrix,
                    skip_loader_gc, train_ranking)
from .seqrec import Caser, SeqDataset
from .predict import interaction_matrix, load_model, predict_rating, save_model, top_k

FRAMEWORK = 'mxnet'


def __getattr__(name):
    # ``d2l.plt`` as in the book, imported when first used (pyplot picks a backend on import).
    if name == 'plt':
        import matplotlib.pyplot as plt
        return plt
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
