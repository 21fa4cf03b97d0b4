"""Training curves: d2l's live Animator in Jupyter, a quiet recorder elsewhere.

``d2l.Animator`` redraws with ``IPython.display.display`` after every point; outside a notebook
that prints ``<Figure size ...>`` lines into the console and needs a GUI-less backend anyway.
:class:`Animator` keeps the book's interface (``add(x, y)``), uses d2l's inside Jupyter, only
records the points elsewhere, and can save the figure as PNG and SVG in both cases.
"""
import os

from d2l import mxnet as d2l

from ._atomic import atomic_write

__all__ = ['Animator', 'in_notebook']


def in_notebook():
    """True inside a Jupyter kernel (where IPython's display draws inline figures)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - d2l depends on IPython
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == 'ZMQInteractiveShell'


class Animator:
    """``d2l.Animator`` with a headless mode (book: :numref:`sec_utils`).

    ``live=None`` draws live only inside Jupyter; ``live=False`` never draws while adding
    (points are recorded in ``X``/``Y`` like d2l's); ``live=True`` always uses d2l's.
    :meth:`save` writes the curve to ``<path>.png`` and ``<path>.svg``.
    """
    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale='linear', yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), live=None):
        self.config = dict(xlabel=xlabel, ylabel=ylabel, legend=list(legend or []),
                           xlim=xlim, ylim=ylim, xscale=xscale, yscale=yscale)
        self.fmts, self.figsize = fmts, figsize
        self.live = in_notebook() if live is None else bool(live)
        self._d2l = None
        if self.live:
            self._d2l = d2l.Animator(xlabel=xlabel, ylabel=ylabel, legend=legend, xlim=xlim,
                                     ylim=ylim, xscale=xscale, yscale=yscale, fmts=fmts,
                                     nrows=nrows, ncols=ncols, figsize=figsize)
        self.X, self.Y = None, None

    def add(self, x, y):
        """Add one point per line (same conventions as d2l's: scalars or sequences)."""
        if self._d2l is not None:
            self._d2l.add(x, y)
            self.X, self.Y = self._d2l.X, self._d2l.Y
            return
        if not hasattr(y, '__len__'):
            y = [y]
        n = len(y)
        if not hasattr(x, '__len__'):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)

    def figure(self):
        """A matplotlib Figure of the recorded curves (no pyplot state, no GUI backend)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=self.figsize)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for x, y, fmt in zip(self.X or [], self.Y or [], self.fmts):
            ax.plot(x, y, fmt)
        c = self.config
        xlim = c['xlim']
        if xlim is not None and xlim[0] == xlim[1]:  # one epoch: let matplotlib choose
            xlim = None
        d2l.set_axes(ax, c['xlabel'], c['ylabel'], xlim, c['ylim'], c['xscale'],
                     c['yscale'], c['legend'])
        return fig

    def save(self, path):
        """Write ``<path>.png`` and ``<path>.svg`` (a ``.png``/``.svg`` suffix is dropped);
        each file is written to a temporary name first, then renamed. Returns both paths."""
        stem, ext = os.path.splitext(str(path))
        if ext.lower() not in ('.png', '.svg'):
            stem = str(path)
        return save_figure(self.figure(), stem)


def save_figure(fig, stem, **savefig_kwargs):
    """Write matplotlib figure ``fig`` to ``<stem>.png`` and ``<stem>.svg``, each to a temporary
    name first, then renamed. Returns both paths."""
    paths = [stem + '.png', stem + '.svg']
    for path, fmt in zip(paths, ('png', 'svg')):
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches='tight',
                                                   **savefig_kwargs))
    return paths
