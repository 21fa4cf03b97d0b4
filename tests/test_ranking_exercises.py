"""The ranking sections' exercises (NeuMF, Caser): their sweeps' words on made-up runs, and
quick sweeps in both tabs on tiny data, as ``python -m d2l_recsys exercises`` runs them."""
import csv
import math
import os
import types

import pytest

from conftest import NO_MXNET, make_ratings, write_u_data
from d2l_recsys import cli, exercises
from d2l_recsys.exercises import neumf, seqrec
from d2l_recsys.exercises.sweep import Sweep

FRAMEWORKS = [pytest.param('mxnet', marks=pytest.mark.skipif(NO_MXNET is not None,
                                                              reason=NO_MXNET or '')),
              'torch']


def test_the_ranking_sections_exercises_are_judged_by_the_exact_hr10():
    sections = [section for section, *_ in exercises.EXERCISES.values()]
    assert sections.count('NeuMF') == 4 and sections.count('Caser') == 2
    names = list(exercises.EXERCISES)
    assert names.index('neumf-factors') > names.index('autorec-seq-aware')   # chapter order
    assert names.index('caser-l') > names.index('neumf-hinge')
    for section in ('NeuMF', 'Caser'):
        assert exercises.METRICS[section] == {'metric': 'hr10', 'higher': True}


# ---------------------------------------------------------------- made-up runs, no training
class StandInTab(types.ModuleType):
    """``train_neumf`` / ``train_caser`` returning an exact HR@10 and AUC from the options:
    the book's weight decay collapses NeuMF (AUC 0.5), otherwise HR@10 grows with the
    factors up to 20 and falls after."""

    def __init__(self):
        super().__init__('stand_in')
        self.calls = []

    def _history(self, hr10, auc):
        return None, {'exact': [{'hr@10': hr10, 'ndcg@10': hr10 / 2, 'auc': auc}]}, {}

    def train_neumf(self, *, seed, fast, data_dir, plot, progress, **options):
        self.calls.append(options)
        if options.get('wd', 1e-5) == 1e-5:
            return self._history(0.0064, 0.5)
        k = options.get('num_factors', 10)
        return self._history(0.10 - abs(math.log2(k / 20)) / 100 + seed / 10000, 0.85)

    def train_caser(self, *, seed, fast, data_dir, plot, progress, **options):
        self.calls.append(options)
        if options.get('vertical') is False:
            raise FloatingPointError('training stopped in epoch 1: the loss is nan')
        return self._history(0.14 - 0.01 * options.get('L', 5) / 5, 0.89)


def _sweep(section, seeds=(0, 1)):
    return Sweep(StandInTab(), None, seeds, None, **exercises.METRICS[section])


def test_neumf_factors_says_the_books_wd_learns_nothing_and_wd_0_does():
    sweep = _sweep('NeuMF')
    rows, _, line = neumf.neumf_factors(sweep, quick=False)
    assert len(rows) == 10 and len(sweep.rows) == 20
    assert sum(neumf.collapsed(r) for r in rows) == 5
    assert line.startswith("With the book's wd 1e-05 every num_factors tried (5, 10, 20, 40, "
                           '80) scores HR@10 0.006 and AUC 0.500: NeuMF learned nothing')
    assert 'neumf-optimizers shows the weight decays that let it learn' in line
    assert 'With wd 0 it learns: best num_factors 20 (HR@10 0.100, AUC 0.850)' in line
    assert 'rises up to 20 and falls after it' in line
    assert {tuple(sorted(c)) for c in sweep.tab.calls} == {('num_factors', 'wd')}


def test_neumf_optimizers_counts_the_settings_that_learn_per_weight_decay():
    sweep = _sweep('NeuMF', seeds=(0,))
    rows, _, line = neumf.neumf_optimizers(sweep, quick=False)
    assert len(rows) == sum(map(len, neumf.NEUMF_OPTIMIZERS.values())) * 3
    assert "against the book's Adam, lr 0.01, wd 1e-05 (HR@10 0.006, AUC 0.500: learned " \
           'nothing)' in line
    assert 'wd 1e-05: 0 of 12 settings learn; wd 1e-06: 12 of 12 settings learn' in line
    assert {c['optimizer'] for c in sweep.tab.calls} == set(neumf.NEUMF_OPTIMIZERS)


def test_caser_sweeps_name_the_best_l_and_a_diverged_ablation_is_nan():
    rows, _, line = seqrec.caser_l(_sweep('Caser'), quick=False)
    assert [r['L'] for r in rows] == [1, 2, 3, 5, 8, 10]
    assert line.startswith("Best L 1 (0.138) (AUC 0.890) against the book's L = 5 (HR@10 0.130")
    sweep = _sweep('Caser')
    rows, _, line = seqrec.caser_convolutions(sweep, quick=True)
    assert [r['convolutions'] for r in rows] == list(seqrec.CONVOLUTIONS)
    assert math.isnan(rows[1]['hr10_mean'])   # 'horizontal only' diverged: an answer, NaN
    assert {'vertical': False, 'num_epochs': 2} in sweep.tab.calls


# ---------------------------------------------------------------- quick sweeps, both tabs
@pytest.fixture(scope='module')
def rank_data_dir(tmp_path_factory):
    # Enough windows (about 4,800) for Caser's book batch of 4096.
    folder = str(tmp_path_factory.mktemp('rank-exercises'))
    write_u_data(folder, make_ratings(40, 150, seed=2, per_user=(110, 140)))
    return folder


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_quick_ranking_sweeps_write_figure_table_and_summary(framework, rank_data_dir,
                                                             tmp_path, capsys):
    if framework == 'torch':
        pytest.importorskip('torch')
    out = tmp_path / 'ex'
    assert cli.main(['exercises', 'neumf-hinge', 'caser-convolutions', '--quick',
                     '--framework', framework, '--data', rank_data_dir,
                     '--out', str(out)]) == 0
    for name in ('neumf-hinge', 'caser-convolutions'):
        for suffix in ('png', 'svg', 'md', 'csv'):
            assert (out / f'{name}.{suffix}').stat().st_size > 0
    runs = list(csv.DictReader(open(out / 'neumf-hinge.csv')))
    assert sorted((r['loss'], float(r['wd'])) for r in runs) == [
        ('bpr', 0.0), ('bpr', 1e-5), ('hinge', 0.0), ('hinge', 1e-5)]
    for r in runs:
        assert 0 <= float(r['hr10']) <= 1 and 0 <= float(r['auc']) <= 1
    # The two losses train different models from the same seed.
    assert len({(r['hr10'], r['auc']) for r in runs if float(r['wd']) == 0}) == 2
    runs = list(csv.DictReader(open(out / 'caser-convolutions.csv')))
    assert [r['convolutions'] for r in runs] == list(seqrec.CONVOLUTIONS)
    assert len({r['auc'] for r in runs}) == 3   # three different models
    assert '| wd | loss | hr10_mean |' in (out / 'neumf-hinge.md').read_text()
    assert '| 1e-05 | bpr |' in (out / 'neumf-hinge.md').read_text()
    summary = (out / 'summary.md').read_text()
    assert summary.count('\n- **') == 2 and 'quick: plumbing only' in summary
    printed = capsys.readouterr().out
    assert 'neumf-hinge: Exact HR@10 by loss: wd 1e-05 (the book\'s): BPR ' in printed
    assert 'caser-convolutions: Exact HR@10: both (the book) ' in printed
    assert not [p for p in os.listdir(out) if p.startswith('.')]
