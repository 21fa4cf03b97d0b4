"""Both tabs check the same things, through the same code (d2l_recsys.checks), with the same
messages: the models' arguments, the ids and the items to skip when predicting, the ratings a
model is fed, the weights it is saved with, the devices, and the batches ``fit`` can form.
Each test runs on every tab that can run here, so a new tab inherits them by being listed."""
import importlib
import importlib.util
import math
import os

import numpy as onp
import pytest

from conftest import NO_MXNET
from d2l_recsys.experiments import RunData, check_settings

TABS = [pytest.param('mxnet', marks=pytest.mark.skipif(NO_MXNET is not None,
                                                       reason=NO_MXNET or '')),
        pytest.param('torch', marks=pytest.mark.skipif(
            importlib.util.find_spec('torch') is None, reason='PyTorch is not installed'))]


@pytest.fixture(params=TABS)
def tab(request):
    return importlib.import_module(f'd2l_recsys.{request.param}')


def _initialised(tab, net):
    if tab.FRAMEWORK == 'mxnet':
        import mxnet as mx
        net.initialize(init=mx.init.Normal(0.1))
    return net


def mf(tab, k=2, users=5, items=6):
    return _initialised(tab, tab.MF(k, users, items))


def autorec(tab, hidden=3, width=5, **kwargs):
    return _initialised(tab, tab.AutoRec(hidden, width, **kwargs))


def matrix(tab, rows):
    interactions = {'users': onp.array([0, 1, 4]), 'items': onp.array([3, 5, 0]),
                    'ratings': onp.array(rows, dtype=onp.float32)}
    return tab.interaction_matrix(interactions, 5, 6)


@pytest.mark.parametrize('args, words', [
    ((0, 5, 6), 'num_factors must be a positive integer, got 0'),
    ((2.5, 5, 6), 'num_factors must be a positive integer, got 2.5'),
    ((2, 0, 6), 'num_users must be a positive integer, got 0'),
    ((2, 5, -1), 'num_items must be a positive integer, got -1'),
    ((True, 5, 6), 'num_factors must be a positive integer, got True'),
    ((2, '5', 6), "num_users must be a positive integer, got '5'"),
])
def test_mf_sizes(tab, args, words):
    with pytest.raises(ValueError, match=f'^{words}$'.replace('(', r'\(').replace(')', r'\)')):
        tab.MF(*args)


@pytest.mark.parametrize('kwargs, words', [
    (dict(dropout=math.nan), r'dropout must be a number in \[0, 1\), got nan'),
    (dict(dropout=1.5), r'dropout must be a number in \[0, 1\), got 1.5'),
    (dict(dropout=-0.1), r'dropout must be a number in \[0, 1\)'),
    (dict(dropout='0.1'), r'dropout must be a number in \[0, 1\)'),
    (dict(clip='yes'), "clip must be True or False, got 'yes'"),
    (dict(clip=1), 'clip must be True or False, got 1'),
    (dict(num_hidden=0), 'num_hidden must be a positive integer, got 0'),
    (dict(num_hidden=2.5), 'num_hidden must be a positive integer, got 2.5'),
    (dict(num_users=0), 'num_users must be a positive integer, got 0'),
    (dict(hidden_layers=(0,)), 'hidden_layers must be a positive integer, got 0'),
    (dict(hidden_layers=(2.5,)), 'hidden_layers must be a positive integer, got 2.5'),
    (dict(encoder_activation='foo'), "encoder_activation='foo' is not an activation"),
    (dict(decoder_activation='Sigmoid'), "decoder_activation='Sigmoid' is not an activation"),
    (dict(hidden_activation=3), 'hidden_activation=3 is not an activation'),
])
def test_autorec_arguments(tab, kwargs, words):
    args = {'num_hidden': 3, 'num_users': 5, **kwargs}
    with pytest.raises(ValueError, match=f'^{words}'):
        tab.AutoRec(args.pop('num_hidden'), args.pop('num_users'), **args)


def test_the_activation_names_are_the_same_in_every_tab(tab):
    from d2l_recsys.defaults import ACTIVATIONS
    assert tuple(tab.ACTIVATIONS) == ACTIVATIONS


def test_autorec_takes_the_books_arguments(tab):
    net = tab.AutoRec(3, 5, 0.0, clip=True, hidden_layers=[2], decoder_activation='softrelu')
    assert net.clip is True


@pytest.mark.parametrize('user, item, words', [
    (2.7, 3, 'user must be an integer index, got 2.7'),
    (2, 3.5, 'item must be an integer index, got 3.5'),
    (True, 3, 'user must be an integer index, got True'),
    (-1, 3, 'user -1 is out of range: the model knows 0..4'),
    (2, 6, 'item 6 is out of range: the model knows 0..5'),
])
def test_predict_rating_takes_whole_ids_only(tab, user, item, words):
    with pytest.raises(ValueError, match=f'^{words}'):
        tab.predict_rating(mf(tab), user, item)
    with pytest.raises(ValueError, match=f'^{words}'):
        tab.predict_rating(autorec(tab, width=5), user, item, inter_mat=matrix(tab, [4, 5, 1]))
    assert isinstance(tab.predict_rating(mf(tab), 4.0, 5), float)


@pytest.mark.parametrize('seen, words', [([-1], 'seen: index -1 is out of range'),
                                         ([99999], 'seen: index 99999 is out of range'),
                                         ([1.5], 'seen must be 0-based integer indices')])
def test_top_k_checks_the_items_to_skip(tab, seen, words):
    with pytest.raises(ValueError, match=f'^{words}'):
        tab.top_k(mf(tab), 0, 3, seen=seen)
    rows = tab.top_k(mf(tab), 0, 6, seen=[5, 0])
    assert sorted(r['item_index'] for r in rows) == [1, 2, 3, 4]   # the last item is skipped


@pytest.mark.parametrize('ratings, words', [([4, 99, 1], 'rating 99 is outside the rating '
                                                         'scale, 1 to 5'),
                                            ([4, -1, 1], 'rating -1 is outside'),
                                            ([4, onp.nan, 1], 'ratings hold non-finite values')])
def test_autorec_is_fed_ratings_on_the_scale_only(tab, ratings, words):
    with pytest.raises(ValueError, match=f'^training ratings: {words}'):
        matrix(tab, ratings)


def test_save_model_refuses_non_finite_weights(tab, tmp_path):
    net = mf(tab)
    if tab.FRAMEWORK == 'mxnet':
        net.Q.weight.set_data(net.Q.weight.data() * onp.nan)
    else:
        import torch
        with torch.no_grad():
            net.Q.weight[1, 0] = math.inf
    with pytest.raises(ValueError, match=r'^save_model: Q.weight holds NaN or infinite values'):
        tab.save_model(net, tmp_path / 'm', model='mf', hparams={'num_factors': 2},
                       num_users=5, num_items=6)
    assert os.listdir(tmp_path) == []   # nothing written


def test_a_gpu_device_object_on_a_machine_without_one_is_one_line(tab):
    if tab.FRAMEWORK == 'mxnet':
        import mxnet as mx
        if mx.context.num_gpus():
            pytest.skip('this machine has a GPU')
        wanted, words = [mx.gpu(0)], "devices: 'gpu(0)' requested but MXNet sees no GPU"
    else:
        import torch
        if torch.cuda.is_available():
            pytest.skip('this machine has a GPU')
        wanted, words = [torch.device('cuda')], "devices: 'cuda' requested but PyTorch sees no GPU"
    with pytest.raises(ValueError, match=f'^{words}'.replace('(', r'\(').replace(')', r'\)')):
        tab.parse_devices(wanted)


@pytest.mark.parametrize('model, settings, rows', [
    ('autorec', dict(batch_size=128), r'the 40 training rows \(items\)'),
    ('autorec', dict(batch_size=64), r'the 40 training rows \(items\)'),
    ('mf', dict(batch_size=1000), r'the \d+ training rows \(ratings\)'),
])
def test_fit_forms_only_full_batches_as_the_mxnet_tab(tab, synthetic_dir, model, settings,
                                                      rows):
    experiments = importlib.import_module(f'd2l_recsys.{tab.FRAMEWORK}.experiments')
    experiments.set_seed(0)
    run = experiments.read_run_data(synthetic_dir, 'random', 0.1)
    assert isinstance(run, RunData) and run.num_items == 40
    s = check_settings(model, num_epochs=2, split_mode='random', **settings)
    with pytest.raises(ValueError, match=r'^batch_size \d+ is larger than ' + rows):
        experiments.fit(model, s, run, devices='cpu', verbose=False)


# --- the PyTorch tab's parameter files: read and checked before any model is built ----------
@pytest.fixture
def torch_folder(tmp_path):
    torch = pytest.importorskip('torch')
    from d2l_recsys.torch import predict
    net = predict.MF(4, 10, 12)
    predict.save_model(net, tmp_path / 'm', model='mf', hparams={'num_factors': 4},
                       num_users=10, num_items=12)
    return torch, predict, net, tmp_path / 'm'


def _rewrite_params(folder, state, torch):
    """Replace model.pt and drop the manifest, as a folder written by hand would be."""
    import json
    torch.save(state, folder / 'model.pt')
    meta = json.loads((folder / 'model.json').read_text())
    meta.pop('files')
    (folder / 'model.json').write_text(json.dumps(meta))


@pytest.mark.parametrize('state, words', [
    ({'P.weight': 5, 'Q.weight': [1.0]}, r"'P.weight' is of type int, not a tensor"),
    ({'P.weight': 'x' * 1000}, r"'P.weight' is of type str, not a tensor"),
    ({'x' * 1000: 1.5}, r"'x+' is of type float, not a tensor"),
    ([1, 2, 3], r'not a state_dict \(of type list\)'),
    ('weights', r'not a state_dict \(of type str\)'),
])
def test_a_parameter_file_of_other_things_than_tensors_is_one_line(torch_folder, state, words):
    torch, predict, _, folder = torch_folder
    _rewrite_params(folder, state, torch)
    with pytest.raises(ValueError, match=f'model.pt: {words}'):
        predict.load_model(folder)


def test_integer_tensors_are_not_parameters(torch_folder):
    torch, predict, net, folder = torch_folder
    state = {k: v.to(torch.int64) for k, v in net.state_dict().items()}
    _rewrite_params(folder, state, torch)
    with pytest.raises(ValueError, match='P.weight holds torch.int64 values, not floating-point'):
        predict.load_model(folder)


def test_an_unreadable_parameter_file_is_named_in_whole_words(torch_folder):
    torch, predict, _, folder = torch_folder
    (folder / 'model.pt').write_bytes(b'not a file torch can read, ' * 20)
    _rewrite_params(folder, {}, torch)
    (folder / 'model.pt').write_bytes(b'not a file torch can read, ' * 20)
    with pytest.raises(ValueError) as e:
        predict.load_model(folder)
    line = str(e.value)
    assert 'model.pt: not a parameter file PyTorch can read (' in line and line.endswith(')')
    reason = line.split('can read (', 1)[1][:-1]
    assert reason.endswith(('.', '...')) or len(reason) < 120, reason   # never cut mid-word
    assert '\n' not in line


def test_shapes_are_compared_on_the_meta_device_before_the_model_is_built(torch_folder,
                                                                          monkeypatch):
    import json
    torch, predict, _, folder = torch_folder
    meta = json.loads((folder / 'model.json').read_text())
    meta['hparams'] = {'num_factors': 5}   # the file holds 4 factors, and room for 5
    meta.pop('files')
    (folder / 'model.json').write_text(json.dumps(meta))
    built_on = []
    real = predict.build_model

    def spy(meta):
        built_on.append(torch.empty(0).device.type)
        return real(meta)
    monkeypatch.setattr(predict, 'build_model', spy)
    with pytest.raises(ValueError, match=r'P.weight is \(10, 4\) in the file but \(10, 5\) in '
                                         r'the model'):
        predict.load_model(folder)
    assert built_on == ['meta']   # never allocated for real
    meta['hparams'] = {'num_factors': 4}
    (folder / 'model.json').write_text(json.dumps(meta))
    built_on.clear()
    net, _, _ = predict.load_model(folder)
    assert built_on == ['meta', 'cpu'] and net.P.weight.shape == (10, 4)
