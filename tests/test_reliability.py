"""Hostile input to the commands that came with tuning and the exercises, and what a killed or
interrupted run leaves: one line naming the argument, before any work where it can be known
before; finished trials kept; no temporary file outliving the run, or swept by the next."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import synthetic
from conftest import NO_MXNET, needs_mxnet
from d2l_recsys import cli, exercises, scratch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_TORCH = importlib.util.find_spec('torch') is not None
# The tab a run needs: MXNet where it can run, else PyTorch.
FRAMEWORK = 'mxnet' if NO_MXNET is None else 'torch' if HAS_TORCH else None
needs_a_tab = pytest.mark.skipif(FRAMEWORK is None, reason='neither tab can run here')


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(scratch.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.delenv('D2L_RECSYS_DATA', raising=False)


def one_line(capsys, code, result):
    assert result == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('d2l-recsys: error: '), err
    return err[0]


# --- tune: every argument before the search ------------------------------------------------
@pytest.mark.parametrize('model, start, words', [
    ('autorec', '{"lr": -1}',
     '--start: lr must be a number in [0.0003, 0.01] (the search space), got -1'),
    ('autorec', '{"batch_size": 7}', '--start: batch_size must be one of 64, 128, 256, got 7'),
    ('autorec', '{"dropout": 1.5}', '--start: dropout must be a number in [0, 0.7]'),
    ('autorec', '{"decoder_activation": "foo"}', '--start: decoder_activation must be one of'),
    ('autorec', '{"lr": 1e30}', '--start: lr must be a number in'),
    ('autorec', '{"lr": NaN}', '--start: lr must be a number in'),
    ('autorec', '{"num_hidden": true}', '--start: num_hidden must be an integer in'),
    ('mf', '{"num_factors": 2.5}', '--start: num_factors must be an integer in [8, 256]'),
    ('mf', '{"lr_decay": 0.2}', '--start: lr_decay must be one of None, 0.1, 0.3, 0.5'),
    ('mf', '[' * 100_000, '--start must be a JSON object'),
])
def test_a_start_point_outside_the_search_space_is_one_line_before_the_search(
        model, start, words, capsys, tmp_path):
    # --data names nothing: the error comes before any data is read
    line = one_line(capsys, 2, cli.main(['tune', model, '--start', start, '--data',
                                         str(tmp_path / 'nowhere')]))
    assert words in line


@pytest.mark.parametrize('setup, words', [
    ('folder', ': is a folder; give a file name'),
    ('under a file', 'which is a file'),
    ('fifo', 'is not a regular file'),
])
def test_tune_out_is_checked_before_the_search(setup, words, capsys, tmp_path):
    (tmp_path / 'file').write_text('')
    os.mkfifo(tmp_path / 'fifo')
    out = {'folder': tmp_path, 'under a file': tmp_path / 'file' / 'r.json',
           'fifo': tmp_path / 'fifo'}[setup]
    line = one_line(capsys, 1, cli.main(['tune', 'mf', '--out', str(out), '--data',
                                         str(tmp_path / 'nowhere')]))
    assert line.startswith(f'd2l-recsys: error: --out {out}') and words in line


@pytest.mark.parametrize('option, value, words', [
    ('--eval-seeds', '-1', '--eval-seeds: each seed must be an integer in [0, 2**32)'),
    ('--eval-seeds', '0,0', '--eval-seeds names seed 0 twice'),
    ('--eval-seeds', '1.5', '--eval-seeds must be integers separated by commas'),
    ('--search-seeds', '4294967296', '--search-seeds: each seed must be'),
    ('--seed', '-3', 'argument --seed: must be an integer in [0, 2**32)'),
    ('--trials', '0', 'argument --trials: must be a positive integer'),
    ('--max-epochs', 'x', "argument --max-epochs: 'x' is not an integer"),
])
def test_tune_seeds_and_sizes_are_usage_errors(option, value, words, capsys, tmp_path):
    line = one_line(capsys, 2, cli.main(['tune', 'mf', option, value, '--data',
                                         str(tmp_path / 'nowhere')]))
    assert words in line


@needs_a_tab
def test_tune_devices_are_checked_before_the_search(capsys, tmp_path):
    device = 'tpu:0'
    line = one_line(capsys, 1, cli.main(['tune', 'mf', '--framework', FRAMEWORK, '--devices',
                                         device, '--data', str(tmp_path / 'nowhere')]))
    assert "unknown device 'tpu:0'" in line


TUNE_SCRIPT = '''
import sys
from d2l_recsys import cli, tuning
from tuning_checks import SPACE
tuning.SPACES['mf'] = SPACE['mf']
sys.exit(cli.main(sys.argv[1:]))
'''


@needs_a_tab
@pytest.mark.parametrize('how', ['SIGINT', 'SIGTERM'])
def test_an_interrupted_search_keeps_its_finished_trials(synthetic_dir, tmp_path, how):
    pytest.importorskip('optuna')
    out = tmp_path / 'tune.json'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, 'tests')]),
               D2L_RECSYS_CACHE=str(tmp_path / 'cache'), PYTHONWARNINGS='ignore')
    proc = subprocess.Popen([sys.executable, '-c', TUNE_SCRIPT, 'tune', 'mf', '--framework',
                             FRAMEWORK, '--trials', '500', '--max-epochs', '2', '--data',
                             synthetic_dir, '--out', str(out)],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines, deadline = [], time.monotonic() + 240
    try:
        while time.monotonic() < deadline:   # wait for two finished trials
            line = proc.stderr.readline()
            assert line, (proc.poll(), ''.join(lines))
            lines.append(line)
            if line.startswith('trial 2/500'):
                break
        proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    err_lines = err.strip().splitlines()
    assert 'Traceback' not in err, err
    record = json.loads(out.read_text())
    assert record['interrupted'] is True and record['finished'] >= 2
    done = [t for t in record['history'] if t['state'] == 'COMPLETE']
    assert len(done) == record['finished']
    assert record['best_validation_rmse'] == min(t['value'] for t in done)
    assert record['preset']['num_epochs'] == 2
    if how == 'SIGINT':
        assert proc.returncode == 130
        assert err_lines[-1] == (f'd2l-recsys: interrupted after {record["finished"]} finished '
                                 f'trial(s) of 500; they are in {out} ("interrupted": true)')
    else:
        assert proc.returncode == 128 + signal.SIGTERM
        assert err_lines[-1].startswith('d2l-recsys: terminated after ')
    assert [n for n in os.listdir(tmp_path) if n.startswith('.')] == []   # no temporary file


# --- exercises ---------------------------------------------------------------------------
def test_exercises_out_is_checked_before_the_sweep(capsys, tmp_path):
    (tmp_path / 'file').write_text('')
    line = one_line(capsys, 1, cli.main(['exercises', 'mf-factors', '--out',
                                         str(tmp_path / 'file'), '--data',
                                         str(tmp_path / 'nowhere')]))
    assert line == f'd2l-recsys: error: --out {tmp_path / "file"}: is a file, not a folder'


def test_rerunning_one_exercise_keeps_the_others_lines(tmp_path, monkeypatch):
    def fake_run(name, *, tab, quick, data_dir, out, log):
        return {'name': name, 'title': f'title of {name}', 'line': f'{name} ran ({tab})',
                'seconds': 1.0}
    monkeypatch.setattr(exercises, 'run', fake_run)
    out = str(tmp_path / 'ex')
    exercises.run_all(None, tab='full', out=out)
    summary = (tmp_path / 'ex' / 'summary.md').read_text()
    assert summary.count('\n- **') == len(exercises.EXERCISES)
    exercises.run_all(['autorec-hidden'], tab='again', quick=True, out=out)
    lines = [line for line in (tmp_path / 'ex' / 'summary.md').read_text().splitlines()
             if line.startswith('- **')]
    assert [line.split('**')[1] for line in lines] == list(exercises.EXERCISES)   # all, in order
    again = [line for line in lines if '(again)' in line]
    assert len(again) == 1 and again[0].startswith('- **autorec-hidden** (')
    assert 'quick: plumbing only, not a result' in again[0]
    assert sum('(full)' in line for line in lines) == len(exercises.EXERCISES) - 1


# --- train: the curve's scratch folder, swept after a kill ---------------------------------
@needs_a_tab
def test_a_killed_train_leaves_a_curve_folder_the_next_run_removes(tmp_path):
    data = synthetic.write_ml100k(tmp_path / 'data', num_users=30, num_items=40, density=0.5,
                                  seed=1)
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmp),
               D2L_RECSYS_CACHE=str(tmp_path / 'cache'), PYTHONWARNINGS='ignore')
    proc = subprocess.Popen([sys.executable, '-m', 'd2l_recsys', 'train', 'mf', '--framework',
                             FRAMEWORK, '--epochs', '100000', '--factors', '2', '--batch-size',
                             '64', '--devices', 'cpu', '--data', data, '--out',
                             str(tmp_path / 'mf')],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and 'epoch 1/' not in proc.stderr.readline():
            assert proc.poll() is None
        proc.kill()
        proc.wait(60)
    finally:
        proc.kill()
    left = os.listdir(tmp)
    assert len(left) == 1 and left[0].startswith(f'd2l-recsys-curve-{proc.pid}-'), left
    run = subprocess.run([sys.executable, '-m', 'd2l_recsys', 'recommend', '--model',
                          str(tmp_path / 'nowhere'), '--user', '1'], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert os.listdir(tmp) == [] and not (tmp_path / 'mf').exists()


# --- MXNet: one line after an out-of-memory error ------------------------------------------
@needs_mxnet
@pytest.mark.skipif(sys.platform != 'linux', reason='limits the address space (Linux)')
def test_an_out_of_memory_error_is_one_line_without_mxnets_exit_traceback(tmp_path):
    import resource
    data = synthetic.write_ml100k(tmp_path / 'data', num_users=30, num_items=40, density=0.5,
                                  seed=1)

    def limit():   # 3 GiB of address space: MXNet loads, a 5-million-unit AutoRec does not
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    env = dict(os.environ, PYTHONPATH=ROOT, D2L_RECSYS_CACHE=str(tmp_path / 'cache'),
               PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'd2l_recsys', 'train', 'autorec', '--hidden',
                           '5000000', '--epochs', '1', '--batch-size', '8', '--devices', 'cpu',
                           '--data', data, '--out', str(tmp_path / 'ar')],
                          env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 'Traceback' not in proc.stderr and 'Exception ignored' not in proc.stderr, \
        proc.stderr
    assert lines[-1].startswith('d2l-recsys: error: ') and 'allocate' in lines[-1]
    assert not (tmp_path / 'ar').exists()


@pytest.mark.skipif(not HAS_TORCH, reason='PyTorch is not installed')
def test_a_tuned_preset_on_data_too_small_for_its_batches_is_refused_in_the_pytorch_tab(tmp_path):
    # The MXNet tab refuses a batch larger than the training rows; the PyTorch tab trained on
    # partial batches (60 epochs, RMSE 2.8, exit 0). Now both say so before training.
    data = synthetic.write_ml100k(tmp_path / 'data', num_users=30, num_items=40, density=0.5,
                                  seed=1)
    env = dict(os.environ, PYTHONPATH=ROOT, D2L_RECSYS_CACHE=str(tmp_path / 'cache'),
               PYTHONWARNINGS='ignore')
    proc = subprocess.run([sys.executable, '-m', 'd2l_recsys', 'train', 'autorec', '--preset',
                           'tuned', '--framework', 'torch', '--devices', 'cpu', '--data', data,
                           '--out', str(tmp_path / 'ar')],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        'd2l-recsys: error: batch_size 128 is larger than the 40 training rows (items); no '
        'full batch can be formed: use at most 40')
    assert 'epoch 1/' not in proc.stderr and not (tmp_path / 'ar').exists()
