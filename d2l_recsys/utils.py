"""The small utilities the chapters' cells call from ``d2l``: a timer and an accumulator.

Framework-free copies of ``d2l.Timer`` (:numref:`sec_minibatch_sgd`) and ``d2l.Accumulator``
(:numref:`sec_utils`), so that the package runs without ``d2l`` installed.
"""
import time

__all__ = ['Timer', 'Accumulator']


class Timer:
    """Record multiple running times."""
    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.time()

    def stop(self):
        """Stop the timer and record the time in a list."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of time."""
        return sum(self.times)

    def cumsum(self):
        """Return the accumulated time."""
        out, total = [], 0.
        for t in self.times:
            total += t
            out.append(total)
        return out


class Accumulator:
    """For accumulating sums over `n` variables."""
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]
