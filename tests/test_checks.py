"""The shared checks (d2l_recsys.checks), the temporary-file registry (d2l_recsys.scratch) and
the file checks of d2l_recsys.atomic: each class of bad input gets one ValueError naming the
argument, file or variable. Framework-free and quick."""
import argparse
import math
import os
import re
import subprocess
import sys

import numpy as onp
import pytest

from d2l_recsys import atomic, checks, scratch
from d2l_recsys.defaults import OPTIONS_OFF, SPACES, TUNED


@pytest.mark.parametrize('value', [0, -1, 2.5, True, '3', None, math.nan, math.inf, [1]])
def test_positive_int_refuses_every_kind_of_non_size(value):
    with pytest.raises(ValueError, match=r'^num_factors must be a positive integer, got '):
        checks.positive_int('num_factors', value)


@pytest.mark.parametrize('value, want', [(1, 1), (30, 30), (4.0, 4), (onp.int64(7), 7)])
def test_positive_int_takes_whole_numbers(value, want):
    got = checks.positive_int('n', value)
    assert got == want and type(got) is int


def test_check_sizes_names_the_first_bad_one():
    assert checks.check_sizes(a=1, b=2) == {'a': 1, 'b': 2}
    with pytest.raises(ValueError, match=r'^b must be a positive integer, got 2\.5'):
        checks.check_sizes(a=1, b=2.5, c=0)


@pytest.mark.parametrize('value', [-0.1, 1, 1.5, math.nan, math.inf, 'x', None, True])
def test_fraction_is_a_number_in_0_1(value):
    with pytest.raises(ValueError, match=r'^dropout must be a number in \[0, 1\), got '):
        checks.fraction('dropout', value)
    assert checks.fraction('dropout', onp.float32(0.25)) == 0.25


@pytest.mark.parametrize('value', ['yes', 1, 0, None, 'True'])
def test_flag_is_true_or_false_only(value):
    with pytest.raises(ValueError, match=r'^clip must be True or False, got '):
        checks.flag('clip', value)
    assert checks.flag('clip', onp.bool_(True)) is True


def test_choice_compares_types_too():
    assert checks.choice('a', None, (None, 'softrelu')) is None
    with pytest.raises(ValueError, match="one of None, 'softrelu', got 'foo'"):
        checks.choice('a', 'foo', (None, 'softrelu'))
    with pytest.raises(ValueError):
        checks.choice('b', True, (1, 2))


@pytest.mark.parametrize('value', [-1, 2 ** 32, 2.7, 'a', None])
def test_seeds(value):
    with pytest.raises(ValueError, match='seed must be an integer in'):
        checks.check_seed(value)
    assert checks.check_seed(2 ** 32 - 1) == 2 ** 32 - 1


@pytest.mark.parametrize('text, words', [('-1', 'each seed must be an integer in'),
                                         ('0,x', 'must be integers separated by commas'),
                                         ('1,1', 'names seed 1 twice'),
                                         ('4294967296', 'each seed must be')])
def test_parse_seeds(text, words):
    with pytest.raises(ValueError, match=f'^--eval-seeds.*{words}'):
        checks.parse_seeds(text, '--eval-seeds')
    assert checks.parse_seeds('', '--x') == [] and checks.parse_seeds(' 0, 3', '--x') == [0, 3]


@pytest.mark.parametrize('value, words', [(2.7, 'must be an integer index, got 2.7'),
                                          (True, 'must be an integer index'),
                                          ('2', 'must be an integer index'),
                                          (-1, 'user -1 is out of range: the model knows 0..4'),
                                          (5, 'user 5 is out of range')])
def test_index(value, words):
    with pytest.raises(ValueError, match=words):
        checks.index('user', value, 5)
    assert checks.index('user', 4.0, 5) == 4


@pytest.mark.parametrize('seen, words', [([-1], 'index -1 is out of range'),
                                         ([99999], 'index 99999 is out of range'),
                                         ([1.5], 'must be 0-based integer indices'),
                                         (['a'], 'must be 0-based integer indices'),
                                         ([[1]], 'must be 0-based integer indices')])
def test_indices(seen, words):
    with pytest.raises(ValueError, match=f'^seen.*{words}'):
        checks.indices('seen', seen, 10)
    assert checks.indices('seen', {3, 1}, 10).tolist() in ([1, 3], [3, 1])
    assert checks.indices('seen', onp.array([2.0]), 10).dtype == onp.int64
    assert len(checks.indices('seen', [], 10)) == 0


@pytest.mark.parametrize('ratings, words', [([1, 99], 'rating 99 is outside the rating scale'),
                                            ([0.5, 3], 'rating 0.5 is outside'),
                                            ([-2, 3], 'rating -2 is outside'),
                                            ([onp.nan], 'ratings hold non-finite values'),
                                            (['a'], 'ratings are <U1, not numbers')])
def test_ratings_are_on_the_scale(ratings, words):
    with pytest.raises(ValueError, match=f'^training: {words}'):
        checks.check_ratings(onp.array(ratings), 'training')
    checks.check_ratings(onp.array([1., 5., 3.]), 'training')
    checks.check_ratings(onp.array([[0, 5], [3, 0]]), 'matrix', zero=True)   # 0: unknown
    with pytest.raises(ValueError, match='rating 7 is outside'):
        checks.check_ratings(onp.array([[0, 7]]), 'matrix', zero=True)


def test_check_finite_names_the_array():
    checks.check_finite([('P', onp.ones(3))], 'model')
    with pytest.raises(ValueError, match='^model: Q holds NaN or infinite values'):
        checks.check_finite([('P', onp.ones(3)), ('Q', onp.array([1, onp.inf]))], 'model')


def test_check_memory_says_so_before_allocating():
    checks.check_memory(1000, 'tiny')
    with pytest.raises(ValueError, match=r'^num_factors 300,000 needs about [\d,]+ GiB; '
                                         r'this machine has'):
        checks.check_memory(10 ** 15, 'num_factors 300,000')


@pytest.mark.parametrize('model, split', sorted(TUNED))
def test_every_tuned_preset_lies_in_its_search_space(model, split):
    # A --start point takes the names it leaves out from the preset: they must be searchable.
    point = {k: TUNED[(model, split)].get(k, OPTIONS_OFF.get(k)) for k in SPACES[model]}
    assert checks.check_point(SPACES[model], point, 'preset') == point


@pytest.mark.parametrize('point, words', [
    ({'lr': -1}, r"lr must be a number in \[0.0003, 0.01\] \(the search space\), got -1"),
    ({'lr': 1e30}, 'lr must be a number in'),
    ({'lr': 'x'}, 'lr must be a number in'),
    ({'batch_size': 7}, 'batch_size must be one of 64, 128, 256, got 7'),
    ({'batch_size': 128.0}, 'batch_size must be one of'),
    ({'dropout': 1.5}, r'dropout must be a number in \[0, 0.7\]'),
    ({'decoder_activation': 'foo'}, "decoder_activation must be one of None, 'softrelu'"),
    ({'num_hidden': 50}, r'num_hidden must be an integer in \[100, 2000\]'),
    ({'num_hidden': 500.5}, 'num_hidden must be an integer in'),
])
def test_a_point_outside_the_search_space_is_named(point, words):
    with pytest.raises(ValueError, match=f'^--start: {words}'):
        checks.check_point(SPACES['autorec'], point, '--start')


@pytest.mark.parametrize('text, want', [('1', True), ('yes', True), ('TRUE', True),
                                        (' on ', True), ('0', False), ('no', False),
                                        ('false', False), ('Off', False), ('', False)])
def test_env_flag_reads_the_usual_words(text, want):
    assert checks.env_flag('D2L_RECSYS_SHORT', environ={'D2L_RECSYS_SHORT': text}) is want
    assert checks.env_flag('D2L_RECSYS_SHORT', environ={}) is False


@pytest.mark.parametrize('text', ['2', 'maybe', 'y e s', 'short'])
def test_env_flag_names_the_variable(text):
    with pytest.raises(ValueError, match=r"^D2L_RECSYS_SHORT must be one of 1, yes, true, on "
                                         r"\(on\) or 0, no, false, off \(off\), got "):
        checks.env_flag('D2L_RECSYS_SHORT', environ={'D2L_RECSYS_SHORT': text})


@pytest.mark.parametrize('text, words', [('abc', "must be an integer, got 'abc'"),
                                         ('1.5', 'must be an integer'),
                                         ('-1', r'must be an integer in \[0, 9\]'),
                                         ('10', r'must be an integer in \[0, 9\]')])
def test_env_int_names_the_variable(text, words):
    with pytest.raises(ValueError, match=f'^D2L_RECSYS_SEED {words}'):
        checks.env_int('D2L_RECSYS_SEED', 0, 0, 9, environ={'D2L_RECSYS_SEED': text})
    assert checks.env_int('D2L_RECSYS_SEED', 0, 0, 9, environ={'D2L_RECSYS_SEED': ' 7'}) == 7
    assert checks.env_int('D2L_RECSYS_SEED', 3, environ={}) == 3


@pytest.mark.parametrize('parse, text, words', [
    (checks.arg_positive_int, '0', 'must be a positive integer, got 0'),
    (checks.arg_positive_int, '2.5', "'2.5' is not an integer"),
    (checks.arg_seed, '-1', r'must be an integer in \[0, 2\*\*32\)'),
    (checks.arg_positive_float, 'nan', 'must be a finite number, got nan'),
    (checks.arg_positive_float, '0', 'must be positive, got 0'),
    (checks.arg_nonneg_float, '-1e-9', 'must be zero or positive'),
    (checks.arg_ratio, '1', 'must be between 0 and 1'),
    (checks.arg_fraction, '1', r'must be in \[0, 1\)'),
    (checks.arg_fraction, 'x', "'x' is not a number"),
])
def test_argument_types(parse, text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        parse(text)


def test_the_one_line_parser_raises_a_usage_error():
    p = checks.OneLineParser(prog='x')
    p.add_argument('--n', type=checks.arg_positive_int)
    with pytest.raises(checks.UsageError, match='argument --n: must be a positive integer'):
        p.parse_args(['--n', '0'])


# --- files: never a read that hangs; outputs checked before the work -------------------------
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / 'pipe'
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_without_blocking(fifo, tmp_path):
    with pytest.raises(ValueError, match='pipe: a FIFO, not a regular file'):
        atomic.read_regular(fifo)
    with pytest.raises(ValueError, match='a FIFO'):
        atomic.file_digest(fifo)
    with pytest.raises(ValueError, match='a folder, not a regular file'):
        atomic.read_regular(tmp_path)
    link = tmp_path / 'link'
    (tmp_path / 'f').write_bytes(b'abc')
    link.symlink_to(tmp_path / 'f')
    assert atomic.read_regular(link) == b'abc'
    with pytest.raises(ValueError, match='a symbolic link'):
        atomic.read_regular(link, follow_links=False)
    with pytest.raises(ValueError, match='larger than 2 bytes'):
        atomic.read_regular(tmp_path / 'f', limit=2)


def test_output_file_and_folder_are_checked_before_the_work(tmp_path, fifo):
    (tmp_path / 'file').write_text('')
    assert atomic.check_output_file(tmp_path / 'new' / 'r.json') == tmp_path / 'new' / 'r.json'
    assert not (tmp_path / 'new').exists()   # nothing made
    with pytest.raises(ValueError, match='^--out .*: is a folder; give a file name'):
        atomic.check_output_file(tmp_path, '--out')
    with pytest.raises(ValueError, match=r'^--out .*file/r.json: cannot be created under '
                                         r'.*file, which is a file'):
        atomic.check_output_file(tmp_path / 'file' / 'r.json', '--out')
    with pytest.raises(ValueError, match='is not a regular file'):
        atomic.check_output_file(fifo)
    atomic.check_output_dir(tmp_path / 'a' / 'b')
    atomic.check_output_dir(tmp_path)
    with pytest.raises(ValueError, match='^--out .*file: is a file, not a folder'):
        atomic.check_output_dir(tmp_path / 'file', '--out')
    with pytest.raises(ValueError, match='which is a file'):
        atomic.check_output_dir(tmp_path / 'file' / 'x')


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write anywhere')
def test_an_unwritable_output_is_named(tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ValueError, match='cannot write in'):
            atomic.check_output_file(locked / 'r.json', '--out')
        with pytest.raises(ValueError, match='cannot write in'):
            atomic.check_output_dir(locked, '--out')
    finally:
        locked.chmod(0o755)


# --- the registry of temporary paths, swept by the next run -----------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(scratch.ENV_CACHE, str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def _dead_pid():
    proc = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _marker_of(pid, path, cache):
    """A marker as process ``pid`` of this host would have left it."""
    folder = cache / scratch.PENDING
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f'{scratch.host_name()}@{pid}@abc'
    marker.write_text(str(path))
    return marker


def test_a_dead_process_leftovers_are_swept_a_live_ones_kept(tmp_path, cache):
    dead, alive = tmp_path / '.m.tmp-1-x', tmp_path / '.m.tmp-2-y'
    for folder in (dead, alive):
        folder.mkdir()
        (folder / 'model.pt').write_text('half')
    gone = tmp_path / 'd2l-recsys-curve-3-z'   # a file and a scratch folder, both ours
    gone.mkdir()
    _marker_of(_dead_pid(), dead, cache)
    _marker_of(_dead_pid(), gone, cache)
    mine = scratch.register(alive)
    assert sorted(scratch.sweep()) == sorted([str(dead), str(gone)])
    assert not dead.exists() and not gone.exists() and alive.exists()
    scratch.unregister(mine)
    assert not (cache / scratch.PENDING).exists()   # the registry goes when it is empty


def test_the_sweep_removes_only_temporary_names_of_this_host(tmp_path, cache):
    keep = tmp_path / 'results'          # not a temporary name: never removed
    keep.mkdir()
    _marker_of(_dead_pid(), keep, cache)
    other = tmp_path / '.x.tmp-9'
    other.mkdir()
    folder = cache / scratch.PENDING
    (folder / f'otherhost@{_dead_pid()}@q').write_text(str(other))   # another machine's
    assert scratch.sweep() == []
    assert keep.exists() and other.exists()
    with pytest.raises(ValueError, match='not a temporary name'):
        scratch.register(keep)


def test_scratch_dir_is_registered_while_it_exists(cache):
    with scratch.scratch_dir('curve') as folder:
        assert os.path.basename(folder).startswith(f'd2l-recsys-curve-{os.getpid()}-')
        markers = os.listdir(cache / scratch.PENDING)
        assert len(markers) == 1
        assert (cache / scratch.PENDING / markers[0]).read_text() == folder
    assert not os.path.exists(folder) and not (cache / scratch.PENDING).exists()


def test_an_unwritable_cache_only_skips_the_registry(tmp_path, monkeypatch):
    blocker = tmp_path / 'blocker'
    blocker.write_text('')
    monkeypatch.setenv(scratch.ENV_CACHE, str(blocker))
    assert scratch.register(tmp_path / '.a.tmp-1') is None
    assert scratch.sweep() == []
    target = tmp_path / 'out.txt'
    atomic.atomic_write_text(target, 'ok')   # writing still works
    assert target.read_text() == 'ok'


def test_activation_names_are_the_shared_list():
    from d2l_recsys.defaults import ACTIVATIONS
    for name in ACTIVATIONS + (None,):
        assert checks.activation('decoder_activation', name) == name
    for bad in ('foo', 'Sigmoid', 1, ''):
        with pytest.raises(ValueError, match=r"^decoder_activation=.* is not an activation; "
                                             r"use one of sigmoid, relu, tanh"):
            checks.activation('decoder_activation', bad)


@pytest.mark.parametrize('text, want', [
    ('short', 'short'),
    ('first line\nsecond', 'first line'),
    ('A sentence that ends here. ' + 'x' * 200, 'A sentence that ends here.'),
    ('word ' * 60, ('word ' * 31).strip() + '...'),
])
def test_brief_never_cuts_mid_word(text, want):
    got = checks.brief(text, 160)
    assert got == want and len(got) <= 160


NOTEBOOK_SOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'notebooks', 'src')


# The notebooks with nothing random and nothing to shorten (the personalized ranking section's
# worked example, the feature-rich section's look at the data): they read neither variable.
READ_NO_SETTINGS = {'05-ranking-mxnet.md', '05-ranking-pytorch.md', '08-ctr-mxnet.md',
                    '08-ctr-pytorch.md'}


def _settings_lines(path):
    """The lines of a notebook source that read its environment variables."""
    lines = [line for line in open(path, encoding='utf-8').read().splitlines()
             if line.startswith(('from d2l_recsys.checks import env', 'SHORT =', 'SEED ='))]
    if os.path.basename(path) in READ_NO_SETTINGS:
        assert not lines, path
        pytest.skip(f'{os.path.basename(path)} reads no setting')
    assert any(line.startswith('SEED =') for line in lines), path
    return '\n'.join(lines)


@pytest.mark.parametrize('name', sorted(n for n in os.listdir(NOTEBOOK_SOURCES)
                                        if n.endswith('.md')))
@pytest.mark.parametrize('variable, value, words', [
    ('D2L_RECSYS_SEED', 'abc', "D2L_RECSYS_SEED must be an integer, got 'abc'"),
    ('D2L_RECSYS_SEED', '-1', r'D2L_RECSYS_SEED must be an integer in \[0, 4294967295\]'),
    ('D2L_RECSYS_SHORT', 'maybe', 'D2L_RECSYS_SHORT must be one of 1, yes, true, on'),
])
def test_the_notebooks_read_their_variables_through_the_checks(name, variable, value, words,
                                                               monkeypatch):
    path = os.path.join(NOTEBOOK_SOURCES, name)
    text = open(path, encoding='utf-8').read()
    assert not re.search(r"os\.environ.*D2L_RECSYS_(SHORT|SEED)", text)
    code = _settings_lines(path)
    if variable == 'D2L_RECSYS_SHORT' and 'SHORT =' not in code:
        pytest.skip(f'{name} has no short mode')
    for good in ('yes', 'true', 'ON', '1'):   # what used to mean a full run
        monkeypatch.setenv('D2L_RECSYS_SHORT', good)
        monkeypatch.setenv('D2L_RECSYS_SEED', '7')
        scope = {}
        exec(code, scope)
        assert scope['SEED'] == 7 and scope.get('SHORT', True) is True
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f'^{words}'):
        exec(code, {})
