"""The FM and DeepFM sections' exercises: registered and judged by the exact test AUC (higher
is better), what a quick sweep writes in each tab on a small MovieLens made here, and the
summary lines on stand-in runs (no training)."""
import csv
import math
import os
import types

import pytest

import ctr_files
import synthetic
from conftest import NO_MXNET
from d2l_recsys import cli, exercises
from d2l_recsys.exercises import deepfm, fm
from d2l_recsys.exercises.sweep import Sweep

CLICK = ('fm-factors', 'fm-vs-deepfm', 'deepfm-mlp')


def test_the_click_sections_exercises_are_registered_in_the_chapters_order():
    names = list(exercises.EXERCISES)
    assert names[-3:] == list(CLICK)
    assert [exercises.EXERCISES[n][0] for n in CLICK] == ['FM', 'FM', 'DeepFM']
    for section in ('FM', 'DeepFM'):
        assert exercises.METRICS[section] == {'metric': 'test_auc', 'higher': True}


# ---------------------------------------------------------------- stand-in runs
class StandInTab(types.ModuleType):
    """train_fm/train_deepfm returning histories whose AUC a function of the settings gives."""

    def __init__(self, auc):
        super().__init__('stand_in_click_tab')
        self.auc, self.calls = auc, []

    def _train(self, model, *, seed, num_epochs, **settings):
        self.calls.append((model, seed, num_epochs, settings))
        print('loss 0.5, train acc 0.1, test acc 0.1')   # the book's line: not shown
        if settings.get('mlp_dims') == (10,):
            raise FloatingPointError('loss is nan at epoch 1')
        auc = self.auc(model, settings) + 0.001 * seed
        n = num_epochs or 30
        return None, {'test_auc': [auc - 0.01] * (n - 1) + [auc],
                      'test_log_loss': [3.0] * n, 'test_accuracy': [0.7] * n,
                      'test_acc': [0.2] * n}, {}

    def train_fm(self, **kwargs):
        return self._train('fm', **kwargs)

    def train_deepfm(self, **kwargs):
        return self._train('deepfm', **kwargs)


def test_deepfm_mlp_picks_the_highest_auc_and_a_diverged_run_is_nan(capsys):
    # AUC grows with the hidden units: the widest stack is best, whatever its position.
    tab = StandInTab(lambda model, s: 0.70 + sum(s['mlp_dims']) / 10000)
    sweep = Sweep(tab, '/made/up', [0, 2], None, **exercises.METRICS['DeepFM'])
    rows, _, line = deepfm.deepfm_mlp(sweep, quick=False)
    assert [r['mlp'] for r in rows] == list(deepfm.MLP_STRUCTURES)
    assert all(s['data_dir'] == '/made/up' and s['fast'] and epochs is None
               for _, _, epochs, s in tab.calls)   # the book's epochs, the fast path
    assert math.isnan(rows[0]['test_auc_mean'])   # (10,) diverged in the stand-in
    assert line.startswith('Best mlp 200-100-50 (0.736) against the book\'s 30-20-10 '
                           '(0.707, log loss 3.00)')
    assert 'loss 0.5' not in capsys.readouterr().out


def test_a_click_run_passes_the_settings_and_the_data(tmp_path):
    calls = []

    def train_fm(**kwargs):
        calls.append(kwargs)
        return None, {'test_auc': [0.7], 'test_log_loss': [1.0], 'test_accuracy': [0.7],
                      'test_acc': [0.1]}, {}
    sweep = Sweep(types.SimpleNamespace(train_fm=train_fm), str(tmp_path), [3], None)
    history = fm.click_run(sweep, 'fm', 3, True, num_factors=7)
    assert calls == [dict(seed=3, fast=True, plot=False, progress=False,
                          data_dir=str(tmp_path), num_epochs=2, num_factors=7)]
    assert history['test_auc'] == [0.7] and history['total_seconds'] >= 0


def test_fm_vs_deepfm_names_the_model_ahead_by_the_auc():
    tab = StandInTab(lambda model, s: {'fm': 0.76, 'deepfm': 0.77}[model])
    sweep = Sweep(tab, '/made/up', [0, 1, 2], None, **exercises.METRICS['FM'])
    rows, _, line = fm.fm_vs_deepfm(sweep, quick=False)
    assert line.startswith('Exact test AUC: DeepFM 0.771, FM 0.761 (DeepFM ahead by 0.010)')
    assert 'both end below their peak' not in line   # the stand-in's AUC ends at its peak
    assert [r['model'] for r in rows] == ['fm', 'deepfm'] and rows[0]['seeds'] == 3


def test_where_best_says_where_a_sweep_peaks():
    rows = [{'k': k, 'm_mean': v} for k, v in ((1, 0.70), (2, 0.75), (3, 0.72))]
    assert fm.where_best(rows, 'm', True) == 'a middle'
    assert fm.where_best(rows, 'm', False) == 'the smallest'
    assert fm.where_best(rows[:2], 'm', True) == 'the largest'


# ---------------------------------------------------------------- quick sweeps, both tabs
def frameworks():
    out = [] if NO_MXNET else ['mxnet']
    try:
        import torch  # noqa: F401
        out.append('torch')
    except ImportError:
        pass
    return out


@pytest.fixture(scope='module')
def movielens(tmp_path_factory):
    """A MovieLens 100K of 300 users and 150 films (u.data, u.item, u.user), big enough that
    its click data's test file holds a batch of the book's 2048 lines."""
    folder = synthetic.write_ml100k(str(tmp_path_factory.mktemp('ml')), num_users=300,
                                    num_items=150, density=0.5, seed=5)
    return ctr_files.write_side_files(folder, 300, 150, seed=5)


@pytest.mark.parametrize('framework', frameworks())
def test_quick_click_sweeps_write_figure_table_and_summary(movielens, tmp_path, monkeypatch,
                                                           capsys, framework):
    monkeypatch.setenv('D2L_RECSYS_CACHE', str(tmp_path / 'cache'))   # the click data's build
    out = tmp_path / 'ex'
    assert cli.main(['exercises', *CLICK, '--quick', '--framework', framework, '--data',
                     movielens, '--out', str(out)]) == 0
    for name in CLICK:
        for suffix in ('png', 'svg', 'md', 'csv'):
            assert (out / f'{name}.{suffix}').stat().st_size > 0, (name, suffix)
    runs = list(csv.DictReader(open(out / 'fm-factors.csv')))
    fm_runs = [r for r in runs if r['model'] == 'FM']
    mf_runs = [r for r in runs if r['model'] == 'MF']
    assert sorted(int(r['num_factors']) for r in fm_runs) == [5, 20]
    assert sorted(int(r['num_factors']) for r in mf_runs) == [5, 20]
    assert all(0.5 < float(r['test_auc']) <= 1 and float(r['test_log_loss']) > 0
               for r in fm_runs)   # the made-up labels can be learned
    assert all(0 < float(r['test_rmse']) < 5 for r in mf_runs)   # 2 epochs: far from done
    both = list(csv.DictReader(open(out / 'fm-vs-deepfm.csv')))
    assert sorted(r['model'] for r in both) == ['deepfm', 'fm']
    mlp = list(csv.DictReader(open(out / 'deepfm-mlp.csv')))
    assert sorted(r['mlp'] for r in mlp) == ['30', '30-20-10']
    table = (out / 'deepfm-mlp.md').read_text()
    assert '| mlp | layers | hidden_units | test_auc_mean | test_auc_std |' in table
    summary = (out / 'summary.md').read_text()
    assert [line.split('**')[1] for line in summary.splitlines()
            if line.startswith('- **')] == list(CLICK)
    assert summary.count('quick: plumbing only') == 3
    printed = capsys.readouterr()
    assert 'fm-factors: FM: best num_factors ' in printed.out
    assert 'test_auc 0.' in printed.err   # each run's log line names the metric
    assert not [p for p in os.listdir(out) if p.startswith('.')]
