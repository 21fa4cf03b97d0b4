"""The PyTorch tab: ``from d2l_recsys import torch as d2l`` gives what the chapter's cells call.

The PyTorch AutoRec deck's cells run with only their import line changed, on a CPU and without
a display: the MovieLens functions (NumPy arrays; ``split_and_load_ml100k`` with PyTorch
``DataLoader``s), ``try_gpu``, ``try_all_gpus`` (falling back to the CPU),
``get_dataloader_workers``, ``Timer``, ``Accumulator``, ``Animator`` and ``plt``. So are the
models (``MF``, ``AutoRec`` as ``nn.Module``s), the evaluators, ``train_recsys_rating``, the
experiments and saving/loading, under the MXNet tab's names, and the ranking half's
(``BPRLoss``, ``HingeLossbRec``, ``NeuMF``, ``PRDataset``, ``hit_and_auc``,
``evaluate_ranking``, ``train_ranking``, ``Caser``, ``SeqDataset``, ``train_neumf``,
``train_caser``); data parallelism across processes is :mod:`d2l_recsys.torch.distributed`.
The feature-rich sections' ``DATA_HUB``, ``download_extract``, ``CTRDataset``, ``FM``,
``DeepFM`` (``xavier_init``: the book's Xavier initialisation) and ``train_ch13`` with its
helpers have the MXNet tab's names. Importing this never imports MXNet, ``d2l`` or
torchvision.

The modules are the MXNet tab's: one per section of the chapter, named after its page of the
book (:mod:`~d2l_recsys.torch.movielens`, :mod:`~d2l_recsys.torch.mf`,
:mod:`~d2l_recsys.torch.autorec`, :mod:`~d2l_recsys.torch.ranking`,
:mod:`~d2l_recsys.torch.neumf`, :mod:`~d2l_recsys.torch.seqrec`, :mod:`~d2l_recsys.torch.ctr`,
:mod:`~d2l_recsys.torch.fm`, :mod:`~d2l_recsys.torch.deepfm`), and the shared
:mod:`~d2l_recsys.torch.devices`, :mod:`~d2l_recsys.torch.experiments`,
:mod:`~d2l_recsys.torch.fast`, :mod:`~d2l_recsys.torch.fast_ranking`,
:mod:`~d2l_recsys.torch.predict`, :mod:`~d2l_recsys.torch.distributed` and
:mod:`~d2l_recsys.torch.classification`.
"""
from ..plotting import Animator, set_axes
from ..utils import Accumulator, Timer
from .movielens import (load_data_ml100k, load_data_ml100k_fast, read_data_ml100k,
                        read_item_titles, split_and_load_ml100k, split_data_ml100k,
                        split_data_ml100k_fast)
from .mf import L2Loss, MF, evaluator, rmse_exact, train_recsys_rating
from .autorec import (ACTIVATIONS, AutoRec, autorec_evaluator, autorec_rmse_exact,
                      user_based_autorec, user_based_matrix)
from .ctr import CTRDataset, CTRDatasetFast, DATA_HUB, DATA_URL, download_extract
from .fm import FM, xavier_init
from .deepfm import DeepFM
from .classification import (accuracy, evaluate_accuracy_gpu, evaluate_accuracy_gpus,
                             predict_clicks, train_batch_ch13, train_ch13, train_ch13_fast)
from .devices import get_dataloader_workers, parse_devices, try_all_gpus, try_gpu
from .experiments import (load_autorec_data, load_ctr_data, load_mf_data, set_seed,
                          train_autorec, train_caser, train_deepfm, train_fm, train_mf,
                          train_neumf)
from .ranking import BPRLoss, HingeLossbRec
from .neumf import (NeuMF, PRDataset, evaluate_ranking, hit_and_auc, score_matrix,
                    train_ranking)
from .seqrec import Caser, SeqDataset
from .predict import interaction_matrix, load_model, predict_rating, save_model, top_k

FRAMEWORK = 'torch'


def __getattr__(name):
    # ``d2l.plt`` as in the book, imported when first used (pyplot picks a backend on import).
    if name == 'plt':
        import matplotlib.pyplot as plt
        return plt
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
