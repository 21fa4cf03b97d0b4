"""The book's settings for its two experiments, in one table.

``BOOK['mf']`` is the cell of :numref:`sec_mf`, ``BOOK['autorec']`` the cell of
:numref:`sec_autorec`. Every entry point (both tabs' experiments, the command line's help,
``make reproduce`` and ``make bench``) reads its defaults from here, so that changing the book's
setting in one place changes it everywhere.
"""
import types

__all__ = ['BOOK', 'MODELS', 'SPLITS', 'book']

MODELS = ('mf', 'autorec')
SPLITS = ('random', 'seq-aware')

# MappingProxyType: read-only, so that no caller changes the book's settings for the others.
BOOK = types.MappingProxyType({
    'mf': types.MappingProxyType(dict(
        num_factors=30, lr=0.002, wd=1e-5, batch_size=512, num_epochs=20,
        split_mode='seq-aware', test_ratio=0.1)),
    'autorec': types.MappingProxyType(dict(
        num_hidden=500, dropout=0.05, lr=0.002, wd=1e-5, batch_size=256, num_epochs=25,
        split_mode='random', test_ratio=0.1)),
})


def book(model, **overrides):
    """The book's settings for ``model`` ('mf' or 'autorec') as a new dict, with overrides."""
    if model not in BOOK:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    unknown = set(overrides) - set(BOOK[model])
    if unknown:
        raise TypeError(f'{model} has no setting {", ".join(sorted(unknown))}')
    return {**BOOK[model], **overrides}
