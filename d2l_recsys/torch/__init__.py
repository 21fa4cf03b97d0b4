"""The PyTorch tab: ``from d2l_recsys import torch as d2l``.

The names the chapters' cells call from ``d2l``, for PyTorch: the book's data functions
(NumPy arrays, PyTorch DataLoaders), ``MF`` and ``AutoRec`` as ``nn.Module``s, the
evaluators, ``train_recsys_rating``, and the utilities (``try_gpu``, ``try_all_gpus`` with a
CPU fallback, ``get_dataloader_workers``, ``Timer``, ``Accumulator``, ``Animator``). The
PyTorch AutoRec deck's cells run with only their import line changed, on a CPU and without a
display. Importing this never imports MXNet (nor torchvision).
"""
from ._interim import Accumulator, Animator, Timer
from .data import (load_data_ml100k, load_data_ml100k_fast, read_data_ml100k,
                   split_and_load_ml100k, split_data_ml100k, split_data_ml100k_fast)
from .evaluation import autorec_evaluator, autorec_rmse_exact, evaluator, rmse_exact
from .models import (ACTIVATIONS, L2Loss, MF, AutoRec, user_based_autorec,
                     user_based_matrix)
from .training import (get_dataloader_workers, parse_devices, train_recsys_rating,
                       try_all_gpus, try_gpu)

__all__ = ['Accumulator', 'Animator', 'Timer', 'read_data_ml100k', 'split_data_ml100k',
           'load_data_ml100k', 'split_data_ml100k_fast', 'load_data_ml100k_fast',
           'split_and_load_ml100k', 'evaluator', 'autorec_evaluator', 'rmse_exact',
           'autorec_rmse_exact', 'MF', 'AutoRec', 'L2Loss', 'ACTIVATIONS',
           'user_based_autorec', 'user_based_matrix', 'train_recsys_rating', 'try_gpu',
           'try_all_gpus', 'parse_devices', 'get_dataloader_workers']
