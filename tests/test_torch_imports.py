"""The PyTorch tab imports neither MXNet nor torchvision nor d2l (whose PyTorch module needs
torchvision); each check runs in a fresh interpreter."""
import subprocess
import sys

import pytest

pytest.importorskip('torch')

MODULES = ['d2l_recsys.torch', 'd2l_recsys.torch.movielens', 'd2l_recsys.torch.mf',
           'd2l_recsys.torch.autorec', 'd2l_recsys.torch.devices',
           'd2l_recsys.torch.experiments', 'd2l_recsys.torch.predict',
           'd2l_recsys.torch.distributed']


def test_torch_tab_imports_no_mxnet():
    code = ('import sys\n' + ''.join(f'import {m}\n' for m in MODULES) +
            'from d2l_recsys import torch as d2l\n'
            'assert d2l.MF and d2l.AutoRec and d2l.train_recsys_rating\n'
            "bad = [m for m in ('mxnet', 'torchvision', 'd2l') if m in sys.modules]\n"
            'print(bad)\n')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == '[]'
