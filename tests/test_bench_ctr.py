"""`make bench`'s click-model rows: the arithmetic of projections, ratios and verdicts (made-up
timings; no model runs)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), 'benchmarks'))
import bench_ctr  # noqa: E402


def _run(model, path, wall, cpu, epochs, epoch_s, data_s, auc=0.77):
    projected = data_s + epoch_s * 30
    return {'model': model, 'path': path, 'seed': 0, 'epochs': epochs, 'wall_s': wall,
            'cpu_s': cpu, 'data_s': data_s, 'epoch_s': epoch_s, 'projected_s': projected,
            'projected_cpu_s': cpu * projected / wall, 'examples_per_sec': 1000.0,
            'test_auc': auc, 'test_acc': 0.01}


def test_projection_ratio_and_verdicts():
    runs = [_run('fm', 'book', 62.0, 40.0, 3, 20.0, 2.0),        # 30 epochs: 602 s
            _run('fm', 'fast', 45.0, 30.0, 30, 1.4, 3.0),         # ran all 30: 45 s
            _run('deepfm', 'fast', 75.0, 50.0, 30, 2.4, 3.0)]
    summary = bench_ctr.summarize(runs, ['fm', 'deepfm'], list(bench_ctr.PATHS))
    fm = summary['fm']
    assert fm['paths']['book']['projected_s'] == 602.0 and fm['paths']['book']['projected']
    assert fm['fast_30_s'] == 45.0 and fm['target_met']
    assert fm['speedup_vs_book'] == pytest.approx(602 / 45)
    assert fm['cpu_speedup_vs_book'] == pytest.approx((40 * 602 / 62) / 30)
    assert not summary['deepfm']['target_met'] and summary['deepfm']['target_met_cpu']
    report = {'seeds': [0], 'bounded_epochs': 3, 'fast_epochs': 30, 'summary': summary}
    lines = bench_ctr.verdict_lines(report)
    assert lines[0].startswith("fm: the fast path's 30 epochs take 45.0 s wall, 30.0 s CPU "
                               '(target < 60 s: wall met, CPU met); the book\'s code takes '
                               '13.4x its wall time')
    assert 'wall NOT met, CPU met' in lines[1]
    text = bench_ctr.markdown(report)
    assert '| fm | book | 3 | 62.0 | 40.0 | 2.0 | 20.00 | 602.0 (projected) |' in text


def test_a_model_without_the_fast_path_is_said_so():
    summary = bench_ctr.summarize([_run('fm', 'book', 62.0, 40.0, 3, 20.0, 2.0)], ['fm'],
                                  ['book'])
    assert bench_ctr.verdict_lines({'summary': summary}) == ['fm: the fast path was not run']
