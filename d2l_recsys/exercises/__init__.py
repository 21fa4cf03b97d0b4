"""The exercises of the chapter's sections, each as a sweep with a figure and a table.

``python -m d2l_recsys exercises [NAME] [--quick]`` (``make exercises``) runs them on the fast
path with the book's settings except for what the exercise varies, over several seeds, and
writes to ``results/exercises/``: ``NAME.png``/``.svg`` (the figure that answers it),
``NAME.md`` and ``NAME.csv`` (mean and standard deviation over seeds, and every run), and
``summary.md`` with one line per exercise saying what the sweep shows. As in the book's
exercises, the runs are judged on the test split after the book's number of epochs (the
rating sections by the exact test RMSE, the click sections by the exact test AUC); choosing
settings by it would be tuning on the test set, which is what ``python -m d2l_recsys tune``
avoids.

One module per section, each with its ``EXERCISES``: :mod:`~d2l_recsys.exercises.mf`,
:mod:`~d2l_recsys.exercises.autorec`, :mod:`~d2l_recsys.exercises.neumf`,
:mod:`~d2l_recsys.exercises.seqrec` (the ranking sections, judged by the exact test HR@10),
:mod:`~d2l_recsys.exercises.fm`, :mod:`~d2l_recsys.exercises.deepfm` (the click models,
judged by the exact test AUC); what they share is :mod:`~d2l_recsys.exercises.sweep`.
Framework-free: the sweeps call the tab's experiments module (``tab``), so another tab runs
the same sweeps.
"""
import os
import re
import time

from ..atomic import atomic_write_text, check_output_dir, read_regular
from . import autorec, deepfm, fm, mf, neumf, seqrec
from .sweep import OUT, Sweep, write

__all__ = ['EXERCISES', 'METRICS', 'OUT', 'run', 'run_all']

# name: (section, title, function, seeds for the full run), in the chapter's order.
EXERCISES = {**mf.EXERCISES, **autorec.EXERCISES, **neumf.EXERCISES, **seqrec.EXERCISES,
             **fm.EXERCISES, **deepfm.EXERCISES}
# What a section's runs are judged by where it is not the exact test RMSE (lower is better):
# {section: Sweep keyword arguments}, e.g. {'NeuMF': {'metric': 'hr10', 'higher': True}}.
METRICS = {'NeuMF': neumf.METRIC, 'Caser': seqrec.METRIC, 'FM': fm.METRIC, 'DeepFM': fm.METRIC}
MF_OPTIMIZERS = mf.MF_OPTIMIZERS


def run(name, *, tab, quick=False, seeds=None, data_dir=None, out=OUT, log=None):
    """Run exercise ``name``; write its figure and table to ``out``; return its summary line."""
    if name not in EXERCISES:
        raise ValueError(f'unknown exercise {name!r}; one of {", ".join(EXERCISES)}')
    section, title, function, n_seeds = EXERCISES[name]
    if seeds is None:
        seeds = range(1 if quick else n_seeds)
    sweep = Sweep(tab, data_dir, seeds, log, **METRICS.get(section, {}))
    if log:
        log(f'{name}: {title} (seeds {list(sweep.seeds)})')
    tic = time.time()
    rows, fig, line = function(sweep, quick)
    seconds = time.time() - tic
    notes = (f'{section} section exercise; book settings except what is varied; seeds '
             f'{list(sweep.seeds)}; fast path, {seconds:.0f} s'
             + (' (quick: 2 epochs, fewer points; not a result)' if quick else '') + '.')
    paths = write(out, name, title, rows, sweep.rows, fig, line, notes)
    return {'name': name, 'section': section, 'title': title, 'line': line,
            'seconds': seconds, 'files': paths}


SUMMARY = 'summary.md'
_SUMMARY_LINE = re.compile(r'- \*\*(?P<name>[a-z0-9-]+)\*\* ')


def _summary_lines(path):
    """``{name: line}`` of an earlier ``summary.md`` (only exercises that still exist), so
    that rerunning some exercises keeps the others' lines; {} when there is none."""
    try:
        text = read_regular(path, limit=1 << 20).decode('utf-8')
    except (OSError, ValueError):
        return {}
    lines = {}
    for line in text.splitlines():
        m = _SUMMARY_LINE.match(line)
        if m and m['name'] in EXERCISES:
            lines[m['name']] = line
    return lines


def run_all(names=None, *, tab, quick=False, data_dir=None, out=OUT, log=None):
    """Run the exercises ``names`` (default: all) and write ``out/summary.md``: their lines,
    and the lines an earlier run there wrote for the others (a quick run's marked as such).
    ``out`` is checked before the first sweep."""
    check_output_dir(out, 'exercises: out')
    done = [run(n, tab=tab, quick=quick, data_dir=data_dir, out=out, log=log)
            for n in (names or list(EXERCISES))]
    lines = _summary_lines(os.path.join(out, SUMMARY))
    mark = '; quick: plumbing only, not a result' if quick else ''
    lines.update({d['name']: f'- **{d["name"]}** ({d["title"]}, {d["seconds"]:.0f} s{mark}): '
                             f'{d["line"]}' for d in done})
    text = ["# The chapter's exercises", '',
            'One line per exercise: what its sweep shows (`python -m d2l_recsys exercises '
            'NAME` reruns one, and keeps the other lines).', '']
    text += [lines[name] for name in EXERCISES if name in lines]
    atomic_write_text(os.path.join(out, SUMMARY), '\n'.join(text) + '\n')
    return done
