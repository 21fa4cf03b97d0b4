"""Training curves: the book's live ``Animator`` in Jupyter, a quiet recorder elsewhere.

``d2l.Animator`` (:numref:`sec_utils`) redraws with ``IPython.display`` after every point;
outside a notebook that prints ``<Figure size ...>`` lines into the console and needs a GUI-less
backend anyway. :class:`Animator` keeps the book's interface (``add(x, y)``), draws live inside
Jupyter as the book's does, only records the points elsewhere, and saves the figure as PNG and
SVG in both cases. It needs matplotlib only (not ``d2l``, not a framework).
"""
import os

from .atomic import atomic_write

__all__ = ['Animator', 'in_notebook', 'set_axes', 'save_figure', 'training_animator']


def in_notebook():
    """True inside a Jupyter kernel (where IPython's display draws inline figures)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == 'ZMQInteractiveShell'


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Set the axes for matplotlib (``d2l.set_axes``, :numref:`sec_calculus`)."""
    axes.set_xlabel(xlabel), axes.set_ylabel(ylabel)
    axes.set_xscale(xscale), axes.set_yscale(yscale)
    axes.set_xlim(xlim), axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


class Animator:
    """For plotting data in animation (``d2l.Animator``), with a headless mode.

    ``live=None`` draws live only inside Jupyter; ``live=False`` never draws while adding
    (points are recorded in ``X``/``Y`` as the book's does); ``live=True`` always draws.
    :meth:`save` writes the curve to ``<path>.png`` and ``<path>.svg``.

    Unlike the book's, the live figure is one display updated in place (what the cell printed
    before stays), a line of a single point is drawn as a marker, and ``ylim`` is the least
    range shown: a point above it widens the axis instead of running off it.
    """
    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale='linear', yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), live=None):
        self.config = dict(xlabel=xlabel, ylabel=ylabel, legend=list(legend or []),
                           xlim=xlim, ylim=ylim, xscale=xscale, yscale=yscale)
        self.fmts, self.figsize = fmts, figsize
        self.live = in_notebook() if live is None else bool(live)
        self.X, self.Y = None, None
        self.fig = self.axes = None
        if self.live:
            import matplotlib.pyplot as plt
            try:   # the book's d2l.use_svg_display()
                from matplotlib_inline import backend_inline
                backend_inline.set_matplotlib_formats('svg')
            except ImportError:
                pass
            self.fig, axes = plt.subplots(nrows, ncols, figsize=figsize)
            self.axes = [axes] if nrows * ncols == 1 else list(axes.flat)
            # Shown through its own display, updated in place (not again when the cell ends,
            # and without clearing what the cell printed before the first point).
            plt.close(self.fig)
        self.display = None

    def _draw(self, ax):
        for x, y, fmt in zip(self.X or [], self.Y or [], self.fmts):
            # A line of one point draws nothing: mark it, so that epoch 1 is not an empty frame.
            ax.plot(x, y, fmt, marker='o' if len(x) == 1 else None)
        c = self.config
        xlim, ylim = c['xlim'], c['ylim']
        if xlim is not None and xlim[0] == xlim[1]:  # one epoch: let matplotlib choose
            xlim = None
        top = max((max(y) for y in self.Y or [] if y), default=None)
        if ylim is not None and top is not None and top > ylim[1]:
            ylim = (ylim[0], top * 1.05)   # widen, do not cut a point off (e.g. a first loss)
        set_axes(ax, c['xlabel'], c['ylabel'], xlim, ylim, c['xscale'], c['yscale'],
                 c['legend'])

    def add(self, x, y):
        """Add one point per line (the book's conventions: scalars or sequences)."""
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
        if self.live:
            from IPython import display
            self.axes[0].cla()
            self._draw(self.axes[0])
            if self.display is None:
                self.display = display.display(self.fig, display_id=True)
            else:
                self.display.update(self.fig)

    def figure(self):
        """A matplotlib Figure of the recorded curves (no pyplot state, no GUI backend)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=self.figsize)
        FigureCanvasAgg(fig)
        self._draw(fig.add_subplot(1, 1, 1))
        return fig

    def save(self, path):
        """Write ``<path>.png`` and ``<path>.svg`` (a ``.png``/``.svg`` suffix is dropped);
        each file whole or not at all. Returns both paths."""
        stem, ext = os.path.splitext(str(path))
        if ext.lower() not in ('.png', '.svg'):
            stem = str(path)
        return save_figure(self.figure(), stem)


def training_animator(plot, num_epochs):
    """The book's training plot (epochs on x, train loss and test RMSE in [0, 2]).

    ``plot``: an :class:`Animator` (returned as it is), or its ``live`` argument (None: live
    in Jupyter only).
    """
    if isinstance(plot, Animator):
        return plot
    return Animator(xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 2],
                    legend=['train loss', 'test RMSE'], live=plot)


def save_figure(fig, stem, **savefig_kwargs):
    """Write matplotlib figure ``fig`` to ``<stem>.png`` and ``<stem>.svg``, each whole or not
    at all. Returns both paths."""
    paths = [stem + '.png', stem + '.svg']
    for path, fmt in zip(paths, ('png', 'svg')):
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches='tight',
                                                   **savefig_kwargs))
    return paths
