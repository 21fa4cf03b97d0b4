"""Every model of the chapter, in both tabs, refuses arguments it cannot be built from with
one ValueError naming the argument, before any layer exists (Gluon and PyTorch accept a
size of 0 or 2.5, a dropout of NaN, and fail later, if at all), and accepts the book's."""
import importlib
import math

import pytest

TABS = []
for _tab in ('mxnet', 'torch'):
    try:
        TABS.append(pytest.param(importlib.import_module(f'd2l_recsys.{_tab}'), id=_tab))
    except ImportError as _e:   # a tab that cannot load here (no MXNet, no PyTorch)
        TABS.append(pytest.param(None, id=_tab, marks=pytest.mark.skip(reason=str(_e))))

# (model, the book's arguments, {argument: bad values}): each bad value alone over the book's.
MODELS = [
    ('MF', dict(num_factors=30, num_users=5, num_items=7),
     {'num_factors': [0, 2.5, -1, True, 'ten'], 'num_users': [0, math.nan],
      'num_items': [0, 1.5]}),
    ('NeuMF', dict(num_factors=10, num_users=5, num_items=7, nums_hiddens=[10, 10, 10]),
     {'num_factors': [0, 2.5], 'num_users': [0, -3], 'num_items': [0.5],
      'nums_hiddens': [[0], [10, 2.5], 'a,b', [-1], '']}),
    ('Caser', dict(num_factors=10, num_users=5, num_items=7, L=5, d=16, d_prime=4,
                   drop_ratio=0.05),
     {'num_factors': [0], 'num_items': [2.5], 'L': [0, 1.5], 'd': [0], 'd_prime': [-1],
      'drop_ratio': [math.nan, 1.0, -0.1, 'x']}),
    ('FM', dict(field_dims=[3, 4, 5], num_factors=20),
     {'field_dims': [[0], [3, 2.5], [], 'abc', [-1, 4]], 'num_factors': [0, 2.5]}),
    ('DeepFM', dict(field_dims=[3, 4, 5], num_factors=10, mlp_dims=[30, 20, 10],
                    drop_rate=0.1),
     {'field_dims': [[0], []], 'num_factors': [0], 'mlp_dims': [[0], '', [30, 2.5]],
      'drop_rate': [math.nan, 1.0, -0.5]}),
]
CASES = [pytest.param(model, good, name, bad, id=f'{model}-{name}={bad!r}')
         for model, good, bads in MODELS for name, values in bads.items() for bad in values]


@pytest.mark.parametrize('tab', TABS)
@pytest.mark.parametrize('model,good,name,bad', CASES)
def test_a_bad_argument_is_one_line_naming_it(tab, model, good, name, bad):
    with pytest.raises(ValueError) as e:
        getattr(tab, model)(**{**good, name: bad})
    message = str(e.value)
    assert message.startswith(f'{name} must be ') and '\n' not in message, message


@pytest.mark.parametrize('tab', TABS)
@pytest.mark.parametrize('model,good', [(m, g) for m, g, _ in MODELS])
def test_the_books_arguments_build_the_model(tab, model, good):
    assert getattr(tab, model)(**good) is not None


@pytest.mark.parametrize('tab', TABS)
def test_no_hidden_layer_is_a_model_as_in_the_books_code(tab):
    assert tab.NeuMF(10, 5, 7, nums_hiddens=[]) is not None
    assert tab.DeepFM([3, 4], 10, mlp_dims=()) is not None
