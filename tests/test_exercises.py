"""The exercises' sweeps: the command line, and what one quick sweep writes."""
import csv
import os

from conftest import needs_mxnet
from d2l_recsys import cli, exercises


def test_every_exercise_of_both_sections_is_there():
    sections = [section for section, *_ in exercises.EXERCISES.values()]
    assert sections.count('MF') == 4 and sections.count('AutoRec') == 4


def test_unknown_exercise_is_one_line(capsys):
    assert cli.main(['exercises', 'mf-nope']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown exercise 'mf-nope'" in err[0]


@needs_mxnet   # the sweeps run on the MXNet tab's fast path
def test_quick_sweep_writes_figure_table_and_summary(real_data_dir, tmp_path, capsys):
    out = tmp_path / 'ex'
    assert cli.main(['exercises', 'mf-running-rmse', '--quick', '--data', real_data_dir,
                     '--out', str(out)]) == 0
    for suffix in ('png', 'svg', 'md', 'csv'):
        assert (out / f'mf-running-rmse.{suffix}').stat().st_size > 0
    rows = list(csv.DictReader(open(out / 'mf-running-rmse.csv')))
    exact = {r['test_rmse'] for r in rows}
    assert len(exact) == 1                        # one model, one exact RMSE ...
    full = max(rows, key=lambda r: int(r['test_batch_size']))   # one batch: all 943 ratings
    assert abs(float(full['difference'])) < 1e-6  # ... which the book's gives in one batch
    assert abs(float(rows[0]['difference'])) > 0.01   # and not in batches of one
    summary = (out / 'summary.md').read_text()
    assert summary.count('\n- **') == 1 and 'mf-running-rmse' in summary
    captured = capsys.readouterr()
    assert 'mf-running-rmse:' in captured.out
    # Each run's log line shows the book's number beside the exact one.
    logged = [line for line in captured.err.splitlines() if 'test_batch_size=1,' in line]
    assert logged and f"book_rmse {float(rows[0]['book_rmse']):.4f}" in logged[0]
    assert not [p for p in os.listdir(out) if p.startswith('.')]   # no temporary files left
