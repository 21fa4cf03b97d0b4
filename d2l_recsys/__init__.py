"""d2l-recsys: the recommender-systems chapters of *Dive into Deep Learning* in MXNet Gluon.

Modules follow the chapters: :mod:`data` (MovieLens 100K), :mod:`models` (MF, AutoRec),
:mod:`evaluation`, :mod:`training`, :mod:`plotting` and the command line (:mod:`cli`).
"""
__version__ = "0.1.0"
