"""Which tabs `make install` can set up for this Python; prints the pip extras, one word.

MXNet 1.9.1 (the ``cpu``/``gpu`` extras) runs on Python 3.8-3.12: it needs NumPy < 2, which
has no wheels for Python 3.13. PyTorch (the ``torch`` extra) runs on 3.8-3.13. Usage:
``python tools/python_tabs.py {cpu,gpu} [0|1]`` (the second argument: 0 leaves PyTorch out);
the reason for leaving a tab out goes to stderr.
"""
import sys

mxnet_extra = sys.argv[1] if len(sys.argv) > 1 else 'cpu'
torch = '' if sys.argv[2:3] == ['0'] else 'torch,'
v = sys.version_info[:2]
here = '%d.%d' % v
if v < (3, 8):
    sys.exit(f'd2l-recsys needs Python 3.8 or newer (found {here}): MXNet tab 3.8-3.12, '
             'PyTorch tab 3.8-3.13. Run: make install PY=python3.12')
if v >= (3, 13):
    why = 'the MXNet tab needs Python 3.8-3.12 (MXNet 1.9.1 needs NumPy < 2, no wheels for 3.13)'
    if not torch:
        sys.exit(f'Python {here} with TORCH=0 leaves no tab: {why}. Run: make install PY=python3.12')
    print(f'Python {here}: installing the PyTorch tab only; {why}. For both tabs: '
          'make install PY=python3.12', file=sys.stderr)
    print('torch,dev')
else:
    print(f'{mxnet_extra},{torch}dev,oracle')
