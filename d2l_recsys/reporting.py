"""What every part of ``make reproduce`` shares: running a notebook for its results record,
a training run's console output kept in its log, figures written as PNG and SVG, the machine
and versions a report names, mean and standard deviation over seeds, the tolerance check, and
the console line.

:mod:`d2l_recsys.reproduce` runs the parts (:data:`d2l_recsys.reproduce.PARTS`); each part
module uses these so that every table says the same things the same way. Imports no
framework.
"""
import contextlib
import io
import os
import platform
import statistics
import tempfile
import time

from .atomic import atomic_write_text
from .records import RECORDS_ENV, read_record

__all__ = ['ROOT', 'save_figure', 'new_figure', 'versions', 'machine', 'mean_std', 'say',
           'within', 'run_notebook', 'run_record_notebooks', 'logged_call',
           'provenance_lines', 'files_and_time_lines']

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_figure(fig, stem):
    """Write ``stem.png`` and ``stem.svg`` atomically; returns both paths."""
    from .plotting import save_figure as save
    return save(fig, stem, dpi=150)


def new_figure(figsize=(4.5, 3.2)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def versions():
    import importlib.metadata
    import numpy
    import pandas
    out = {'python': platform.python_version(), 'numpy': numpy.__version__,
           'pandas': pandas.__version__}
    for name in ('mxnet', 'torch', 'd2l'):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    from . import __version__
    out['d2l_recsys'] = __version__
    return out


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform()}


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], None
    return statistics.mean(values), statistics.stdev(values)


def say(*args):
    print(*args, flush=True)


def within(value, target, tolerance):
    """Whether ``value`` is ``target`` +- ``tolerance``; rounded first, so that a mean of 0.92
    printed as "0.920" does not fail on float noise. None is never within."""
    return value is not None and round(abs(value - target), 9) <= tolerance


def logged_call(log_path, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with everything it prints (stdout and stderr) written to
    ``log_path`` (atomically, also when it raises) instead of the console; returns its result."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            return fn(*args, **kwargs)
        finally:
            atomic_write_text(log_path, buf.getvalue())


def run_notebook(name, executed_dir, records_dir, *, short, seed, data_dir, timeout=3600):
    """Execute ``notebooks/name`` in a fresh kernel with ``D2L_RECSYS_RECORDS=records_dir``
    (its last cell writes its record there); the executed copy goes to ``executed_dir``.
    Returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(os.path.join(ROOT, 'notebooks', name), as_version=4)
    env = {'D2L_RECSYS_SHORT': '1' if short else '0', 'D2L_RECSYS_SEED': str(seed),
           'D2L_RECSYS_DATA': data_dir, RECORDS_ENV: records_dir}
    saved = {k: os.environ.get(k) for k in list(env) + ['MPLBACKEND']}
    os.environ.update(env)
    os.environ.pop('MPLBACKEND', None)   # the kernel draws inline, as in Jupyter
    tic = time.time()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name='python3',
                                resources={'metadata': {'path': os.path.join(ROOT,
                                                                             'notebooks')}})
        try:
            client.execute()
        finally:
            atomic_write_text(os.path.join(executed_dir, name), nbformat.writes(nb))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.time() - tic


def run_record_notebooks(notebooks, executed_dir, *, short, data_dir, runner=None):
    """Run each notebook of ``notebooks`` (``{name: (record, required values)}``, in order,
    seed 0) with ``runner`` (default :func:`run_notebook`, with its arguments) and read the
    record it wrote. Returns ``({notebook: record values}, {notebook: seconds})``; raises
    :class:`~d2l_recsys.records.RecordError` (one line) when a notebook wrote no record or one
    without a value the tables need."""
    runner = runner or run_notebook
    records, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix='reproduce-records-') as records_dir:
        for name, (record, required) in notebooks.items():
            say(f'reproduce: running notebooks/{name} '
                f'({"short mode" if short else "book settings"}) ...')
            seconds[name] = runner(name, executed_dir, records_dir, short=short, seed=0,
                                   data_dir=data_dir)
            records[name] = read_record(records_dir, record, required=required,
                                        writer=f'notebooks/{name}')
            say(f'reproduce:   done in {seconds[name]:.0f} s -> '
                f'{os.path.relpath(executed_dir, ROOT)}/{name}')
    return records, seconds


def provenance_lines(report, command='`python -m d2l_recsys.reproduce`'):
    """The lines a results page starts with: what generated it, when, in how long, on what
    machine, with which versions and devices, and the note on PyTorch where there is one."""
    v, m = report['versions'], report['machine']
    torch_v = f'PyTorch {v["torch"]}, ' if 'torch' in v else ''
    lines = [
        f'Generated by {command} on {report["date"]} in '
        f'{report["total_seconds"] / 60:.1f} min ({m["cores"]} CPU cores, {m["cpu"]}; '
        'shared with other work, so times are indicative).',
        f'Versions: MXNet {v.get("mxnet", "-")}, {torch_v}d2l {v.get("d2l", "-")}, NumPy '
        f'{v["numpy"]}, pandas {v["pandas"]}, Python {v["python"]}, d2l-recsys '
        f'{v["d2l_recsys"]}. Devices: {", ".join(report["devices"])}.',
    ]
    note = report.get('torch_note')
    if note:
        lines += ['', f'{note[0].upper()}{note[1:]}.']
    return lines


def files_and_time_lines(report):
    """The lines a results page ends with: the files it wrote and each phase's seconds."""
    lines = ['', '## Files', '']
    lines += [f'* `{p}`' for p in report['files']]
    lines += ['', '## Time', '']
    lines += [f'* {name}: {sec:.0f} s' for name, sec in report['phase_seconds'].items()]
    lines.append(f'* total: {report["total_seconds"]:.0f} s')
    return lines
