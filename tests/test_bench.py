"""`make bench`'s judging: medians, ratios against the book's code, the verdicts.

The timings here are made up (no model runs); what is checked is the arithmetic and the words
that decide whether the fast path's targets (against the book's code) and the PyTorch tab's
goal (at least as fast as the MXNet fast path for both models, at the same RMSE) are met.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), 'benchmarks'))
import bench  # noqa: E402


def _run(model, path, seed, wall, rmse):
    return {'model': model, 'path': path, 'seed': seed, 'wall_s': wall, 'train_s': wall * 0.9,
            'epochs_s': wall * 0.95, 'examples_per_sec': 1e6 / wall, 'test_rmse': rmse,
            'test_rmse_exact': rmse, 'peak_rss_mb': 400.0, 'import_s': 1.0,
            'devices': ['cpu(0)'], 'omp_num_threads': None}


def _report(runs, quick=False, data_prep=None):
    models = sorted({r['model'] for r in runs}, key=bench.MODELS.index)
    return {'machine': {'cpu': 'test', 'cores': 2, 'devices': 'cpu', 'gpus_visible': 0,
                        'python': '3.11', 'mxnet': '1.9.1', 'omp_num_threads': None},
            'quick': quick, 'seeds': [0, 1, 2], 'epochs': {m: 1 for m in models},
            'total_s': 1.0, 'runs': runs, 'data_prep': data_prep,
            'summary': bench.summarize(runs, models, list(bench.PATHS))}


def _three(model, book, faithful, fast, rmse=(0.9, 0.9, 0.9), fast_rmse=None):
    fast_rmse = fast_rmse or rmse
    runs = []
    for seed in range(3):
        runs += [_run(model, 'book', seed, book[seed], rmse[seed]),
                 _run(model, 'faithful', seed, faithful[seed], rmse[seed]),
                 _run(model, 'fast', seed, fast[seed], fast_rmse[seed])]
    return runs


def test_target_is_judged_against_the_book_with_medians():
    # MF: book median 44, fast median 4 -> 11x (met); faithful median 20 -> 5x (not judged).
    runs = _three('mf', book=[40, 44, 50], faithful=[18, 20, 25], fast=[3.5, 4.0, 9.0])
    entry = bench.summarize(runs, ['mf'], list(bench.PATHS))['mf']
    assert entry['speedup_vs_book'] == pytest.approx(11.0)
    assert entry['speedup_vs_faithful'] == pytest.approx(5.0)
    assert entry['target']['baseline'] == 'book'
    assert entry['target']['speed_met'] and entry['target']['rmse_met'] and entry['target']['met']


def test_a_ratio_below_the_target_is_not_met():
    runs = _three('mf', book=[40, 40, 40], faithful=[20, 20, 20], fast=[4.2, 4.2, 4.2])
    report = _report(runs)
    target = report['summary']['mf']['target']
    assert target['speedup'] == pytest.approx(40 / 4.2)
    assert not target['speed_met'] and not target['met']
    text = bench.markdown(report)
    assert 'mf: fast 9.5x sooner than the book\'s code (target >= 10x: NOT met)' in text
    # The package default's ratio is shown but not judged.
    assert 'for information (not the targets\' baseline)' in text


def test_rmse_outside_tolerance_on_one_seed_fails_the_target():
    runs = _three('autorec', book=[40] * 3, faithful=[9] * 3, fast=[4] * 3,
                  rmse=(0.90, 0.90, 0.90), fast_rmse=(0.90, 0.90, 0.92))
    target = bench.summarize(runs, ['autorec'], list(bench.PATHS))['autorec']['target']
    assert target['speed_met']
    assert not target['rmse_met'] and not target['met']


def test_verdict_lines_name_quick_runs_and_the_data_preparation():
    runs = _three('autorec', book=[40] * 3, faithful=[9] * 3, fast=[4] * 3)
    prep = [{'case': 'split random', 'book_s': 10.0, 'fast_s': 0.01, 'speedup': 1000.0},
            {'case': 'split_and_load random explicit', 'book_s': 25.0, 'fast_s': 1.2,
             'speedup': 20.8}]
    lines = bench.verdict_lines(_report(runs, quick=True, data_prep=prep))
    assert lines[0].startswith('--quick run')
    assert any(l.startswith('autorec: fast 10.0x') and '>= 7x: met' in l for l in lines)
    assert lines[-1] == ('data preparation: slowest fast case split_and_load random explicit '
                         '1.20 s (target < 1 s: NOT met)')


def test_no_verdict_without_the_book_path():
    runs = [r for r in _three('mf', [40] * 3, [20] * 3, [4] * 3) if r['path'] != 'book']
    summary = bench.summarize(runs, ['mf'], ['faithful', 'fast'])
    assert 'target' not in summary['mf']
    report = _report(runs)
    report['summary'] = summary
    assert bench.verdict_lines(report) == [
        'mf: no target verdict (the fast and book paths were not both run)']


def _with_torch(model, fast, torch, rmse=0.90, torch_rmse=(0.905, 0.895, 0.91)):
    runs = _three(model, book=[40] * 3, faithful=[9] * 3, fast=fast, rmse=(rmse,) * 3)
    return runs + [_run(model, 'torch', seed, torch[seed], torch_rmse[seed])
                   for seed in range(3)]


def test_pytorch_goal_compares_medians_with_the_mxnet_fast_path():
    # Medians: fast 4.0, PyTorch 3.8 -> 0.95x (met); RMSE medians 0.900 vs 0.905 (within 0.01).
    runs = _with_torch('autorec', fast=[3.5, 4.0, 6.0], torch=[3.8, 3.0, 9.0])
    goal = bench.summarize(runs, ['autorec'], list(bench.PATHS))['autorec']['torch_goal']
    assert goal['baseline'] == 'fast'
    assert goal['ratio_torch_over_baseline'] == pytest.approx(0.95)
    assert goal['rmse_diff'] == pytest.approx(0.005)
    assert goal['speed_met'] and goal['rmse_met'] and goal['met']
    # Slower than the fast path, or another RMSE: not met.
    slow = bench.summarize(_with_torch('mf', fast=[4] * 3, torch=[4.4] * 3), ['mf'],
                           list(bench.PATHS))['mf']['torch_goal']
    assert not slow['speed_met'] and slow['rmse_met'] and not slow['met']
    off = bench.summarize(_with_torch('mf', fast=[4] * 3, torch=[3] * 3,
                                      torch_rmse=(0.92, 0.92, 0.92)), ['mf'],
                          list(bench.PATHS))['mf']['torch_goal']
    assert off['speed_met'] and not off['rmse_met'] and not off['met']


def test_pytorch_verdict_needs_both_models():
    runs = (_with_torch('mf', fast=[4] * 3, torch=[2] * 3, rmse=1.05,
                        torch_rmse=(1.05, 1.05, 1.05))
            + _with_torch('autorec', fast=[5] * 3, torch=[6] * 3))
    lines = bench.verdict_lines(_report(runs))
    assert ("mf: the PyTorch tab (torch) takes 0.50x the MXNet fast path's time (goal <= 1x: "
            'met); median exact test RMSE +0.0000 from it (within 0.01: yes)') in lines
    assert any(l.startswith('autorec: the PyTorch tab (torch) takes 1.20x') and 'NOT met' in l
               for l in lines)
    assert lines[-1] == ('goal (the PyTorch tab at least as fast as the MXNet fast path for '
                         'both models at the same RMSE): NOT met')
    text = bench.markdown({**_report(runs), 'torch_note': None})
    assert '## The PyTorch tab beside the MXNet fast path' in text
    assert '| mf | torch | 2.00 | 4.00 | 0.50x | 1.0500 | 1.0500 | met |' in text

    # Both faster at the same RMSE: met. One model only: not judged.
    runs = (_with_torch('mf', fast=[4] * 3, torch=[2] * 3, rmse=1.05,
                        torch_rmse=(1.05, 1.05, 1.05))
            + _with_torch('autorec', fast=[5] * 3, torch=[4] * 3))
    assert bench.verdict_lines(_report(runs))[-1].endswith('both models at the same RMSE): met')
    only_mf = [r for r in runs if not (r['model'] == 'autorec' and r['path'] == 'torch')]
    assert bench.verdict_lines(_report(only_mf))[-1].endswith(
        'not judged (both models need a PyTorch path and the MXNet fast path)')


def test_pytorch_goal_is_judged_on_the_pytorch_fast_path_when_it_ran():
    runs = _with_torch('mf', fast=[4] * 3, torch=[9] * 3, rmse=0.905)
    runs += [_run('mf', 'torch-fast', seed, 3.0, (0.905, 0.895, 0.91)[seed]) for seed in range(3)]
    goal = bench.summarize(runs, ['mf'], list(bench.PATHS))['mf']['torch_goal']
    assert goal['path'] == 'torch-fast' and goal['ratio_torch_over_baseline'] == 0.75
    assert goal['met']
    text = bench.markdown({**_report(runs), 'torch_note': None})
    assert '| mf | torch | 9.00 | 4.00 | 2.25x | 0.9050 | 0.9050 | for information |' in text
    assert '| mf | torch-fast | 3.00 | 4.00 | 0.75x | 0.9050 | 0.9050 | met |' in text
    lines = bench.verdict_lines(_report(runs))   # one model: not judged, no KeyError
    assert any(l.startswith('mf: the PyTorch tab (torch-fast) takes 0.75x') for l in lines)
    assert lines[-1].endswith('not judged (both models need a PyTorch path and the MXNet '
                              'fast path)')


def test_no_pytorch_lines_without_the_pytorch_tab():
    runs = _three('mf', [40] * 3, [20] * 3, [4] * 3)
    assert not [l for l in bench.verdict_lines(_report(runs)) if 'PyTorch' in l]
    assert 'PyTorch tab beside' not in bench.markdown({**_report(runs), 'torch_note': None})


def test_pytorch_devices_spelling():
    assert bench.torch_devices('cpu') == 'cpu'
    assert bench.torch_devices('cpu:0,cpu:1') == 'cpu'
    assert bench.torch_devices('gpu:0,gpu:1') == 'gpu:0,gpu:1'   # the tab reads gpu as cuda


def test_a_missing_pytorch_tab_is_said_in_one_line(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'torch' else real(name, *a))
    assert bench.torch_available() == 'PyTorch is not installed'
    # PyTorch installed (any spec will do) but the package without its tab
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: real('json') if name == 'torch' else
                        None if name == 'd2l_recsys.torch' else real(name, *a))
    assert bench.torch_available() == 'this d2l_recsys has no PyTorch tab (d2l_recsys.torch)'
    text = bench.markdown({**_report(_three('mf', [40] * 3, [20] * 3, [4] * 3)),
                           'torch_note': 'no PyTorch rows: PyTorch is not installed'})
    assert '\nNo PyTorch rows: PyTorch is not installed.\n' in text


# ------------------------------------------------------------------ the ranking rows
import bench_ranking  # noqa: E402


def _rank_run(model, path, seed, wall, hr=0.1):
    if path == 'book':
        return {'model': model, 'path': path, 'seed': seed, 'wall_s': wall, 'estimated': True,
                'data_s': 30.0, 'batch_s': 1.5, 'batches_per_epoch': 97, 'user_eval_s': 0.14,
                'users': 943}
    return {'model': model, 'path': path, 'seed': seed, 'wall_s': wall, 'estimated': False,
            'hit_rate': 0.075, 'auc': 0.531, 'exact': {'hr@10': hr, 'auc': 0.5}}


def test_ranking_goal_is_judged_per_fast_path_against_a_minute():
    runs = [_rank_run('neumf', 'book', 0, 3000.0),
            _rank_run('neumf', 'fast', 0, 20.0), _rank_run('neumf', 'fast', 1, 40.0),
            _rank_run('neumf', 'fast', 2, 90.0),
            _rank_run('neumf', 'torch-fast', 0, 70.0)]
    summary = bench_ranking.summarize(runs, ['neumf'])['neumf']
    assert summary['fast']['wall_s'] == 40.0 and summary['fast']['met']
    assert summary['fast']['speedup_vs_book'] == pytest.approx(75.0)
    assert not summary['torch-fast']['met']
    lines = bench_ranking.verdict_lines({'neumf': summary})
    assert lines[0] == ("neumf: MXNet fast path 40.0 s for the book's 10 epochs with "
                        "evaluation every epoch (goal < 60 s: met), 75x sooner than the "
                        "book's code (estimated)")
    assert 'PyTorch fast path 70.0 s' in lines[1] and 'NOT met' in lines[1]


def test_ranking_markdown_says_the_books_time_is_estimated():
    runs = [_rank_run('caser', 'book', 0, 12000.0), _rank_run('caser', 'fast', 0, 30.0)]
    text = bench_ranking.markdown(bench_ranking.summarize(runs, ['caser']), load=(1, 2, 3))
    assert 'timed in part and extrapolated' in text
    assert '| caser | book (estimated) | 12,000 |' in text
    assert '| caser | fast | 30.0 | 0.075 | 0.100 | 0.500 | 1 run(s): the median time' in text
    assert "caser: MXNet fast path 30.0 s for the book's 8 epochs" in text
    # Without the book's row, no ratio is claimed.
    alone = bench_ranking.summarize([_rank_run('caser', 'fast', 0, 30.0)], ['caser'])
    assert alone['caser']['fast']['speedup_vs_book'] is None
    assert 'sooner' not in bench_ranking.verdict_lines(alone)[0]
