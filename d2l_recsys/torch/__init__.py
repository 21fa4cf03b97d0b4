"""The PyTorch tab: ``from d2l_recsys import torch as d2l`` gives what the chapter's cells call.

The PyTorch AutoRec deck's cells run with only their import line changed, on a CPU and without
a display: the MovieLens functions (NumPy arrays; ``split_and_load_ml100k`` with PyTorch
``DataLoader``s), ``try_gpu``, ``try_all_gpus`` (falling back to the CPU),
``get_dataloader_workers``, ``Timer``, ``Accumulator``, ``Animator`` and ``plt``. So are the
models (``MF``, ``AutoRec`` as ``nn.Module``s), the evaluators, ``train_recsys_rating``, the
experiments and saving/loading, under the MXNet tab's names; data parallelism across processes
is :mod:`d2l_recsys.torch.distributed`. Importing this never imports MXNet, ``d2l`` or
torchvision.

The modules are the MXNet tab's: one per section of the chapter, named after its page of the
book (:mod:`~d2l_recsys.torch.movielens`, :mod:`~d2l_recsys.torch.mf`,
:mod:`~d2l_recsys.torch.autorec`), and the shared :mod:`~d2l_recsys.torch.devices`,
:mod:`~d2l_recsys.torch.experiments`, :mod:`~d2l_recsys.torch.fast`,
:mod:`~d2l_recsys.torch.predict` and :mod:`~d2l_recsys.torch.distributed`.
"""
from ..plotting import Animator, set_axes
from ..utils import Accumulator, Timer
from .movielens import (load_data_ml100k, load_data_ml100k_fast, read_data_ml100k,
                        read_item_titles, split_and_load_ml100k, split_data_ml100k,
                        split_data_ml100k_fast)
from .mf import L2Loss, MF, evaluator, rmse_exact, train_recsys_rating
from .autorec import (ACTIVATIONS, AutoRec, autorec_evaluator, autorec_rmse_exact,
                      user_based_autorec, user_based_matrix)
from .devices import get_dataloader_workers, parse_devices, try_all_gpus, try_gpu
from .experiments import load_autorec_data, load_mf_data, set_seed, train_autorec, train_mf
from .predict import interaction_matrix, load_model, predict_rating, save_model, top_k

FRAMEWORK = 'torch'


def __getattr__(name):
    # ``d2l.plt`` as in the book, imported when first used (pyplot picks a backend on import).
    if name == 'plt':
        import matplotlib.pyplot as plt
        return plt
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
