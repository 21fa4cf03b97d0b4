"""The checks every way in shares, framework-free: one ValueError naming the argument, file or
environment variable, before any work that the value would spoil.

The command line and the distributed entry (their argparse types, ``--start`` points, seed
lists), both tabs' models and prediction functions (sizes, dropout, flags, ids, the items to
skip), the model folder's training ratings and parameters, and the notebooks' environment
variables all call these functions, so that a new tab or a new model gets the same checks
and the same messages by calling them too. Imports no framework (NumPy only).
"""
import argparse
import math
import numbers
import os
import types

import numpy

from .defaults import ACTIVATIONS, BOOK, CLICK_MODELS, RATING_SCALE

__all__ = ['UsageError', 'OneLineParser', 'check', 'integer', 'positive_int', 'number',
           'int_list', 'check_mlp_dims', 'check_click_settings', 'fraction', 'flag', 'choice', 'activation', 'brief', 'check_sizes',
           'autorec_arguments', 'layer_widths', 'neumf_arguments', 'caser_arguments', 'field_dims_argument',
           'click_arguments', 'gpu_index', 'check_seed',
           'parse_seeds', 'index', 'indices', 'check_ratings', 'check_finite', 'check_memory',
           'check_point', 'env_flag', 'env_int', 'env_seed', 'arg_positive_int', 'arg_nonneg_int',
           'arg_seed', 'arg_finite', 'arg_positive_float', 'arg_nonneg_float', 'arg_ratio',
           'arg_fraction', 'caser_convolutions', 'SEED_LIMIT', 'TRUE', 'FALSE']

SEED_LIMIT = 2 ** 32          # NumPy's legacy generator takes seeds in [0, 2**32)
TRUE, FALSE = ('1', 'yes', 'true', 'on'), ('0', 'no', 'false', 'off')


class UsageError(Exception):
    """A bad argument or environment variable: one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` whose errors are :class:`UsageError` (one line), not the whole usage
    block and ``SystemExit``."""
    def error(self, message):
        raise UsageError(message)


def check(name, value, ok, what):
    """Raise ``ValueError('<name> must be <what>, got <value>')`` unless ``ok``."""
    if not ok:
        raise ValueError(f'{name} must be {what}, got {value!r}'[:300])


def _is_integer(value):
    if isinstance(value, (bool, numpy.bool_)):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(value) and \
        float(value).is_integer()


def integer(name, value, low=None, high=None, what=None):
    """``value`` as an int: an integer (or a float with an integer value, not a bool) in
    ``[low, high]`` (either end open when None); else a ValueError naming ``name``."""
    ok = _is_integer(value) and (low is None or value >= low) and \
        (high is None or value <= high)
    if what is None:
        what = ('an integer' if low is None and high is None else
                f'an integer of at least {low}' if high is None else
                f'an integer in [{low}, {high}]')
    check(name, value, ok, what)
    return int(value)


def positive_int(name, value):
    """``value`` as an int of at least 1, or a ValueError naming ``name``."""
    return integer(name, value, 1, what='a positive integer')


def number(name, value, ok=None, what='a finite number'):
    """``value`` as a finite float (a real number, not a bool or a string) for which
    ``ok(value)`` holds; else a ValueError naming ``name`` and saying ``what`` it must be."""
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, numpy.bool_))
    check(name, value, real and math.isfinite(value) and (ok is None or ok(float(value))),
          what)
    return float(value)


def int_list(name, value):
    """Layer widths (NeuMF's ``nums_hiddens``, DeepFM's ``mlp_dims``) as a tuple of positive
    ints, from a sequence or a string such as ``'30,20,10'``; else a ValueError naming
    ``name``."""
    items = value.split(',') if isinstance(value, str) else value
    try:
        dims = tuple(integer(name, int(d.strip()) if isinstance(d, str) else d, 1)
                     for d in items)
    except (TypeError, ValueError):
        dims = ()
    check(name, value, bool(dims),
          "one or more positive integers (e.g. (30, 20, 10) or '30,20,10')")
    return dims


def check_mlp_dims(value):
    """DeepFM's hidden layer widths: :func:`int_list` named ``mlp_dims``."""
    return int_list('mlp_dims', value)


def check_click_settings(model, **settings):
    """The book's settings for FM or DeepFM with ``settings`` over them, checked: positive
    integers ``num_factors``, ``batch_size``, ``num_epochs``, a finite positive ``lr``, and
    DeepFM's ``mlp_dims`` (:func:`check_mlp_dims`) and ``drop_rate`` in [0, 1). ValueError
    naming the argument; TypeError for an unknown key."""
    if model not in CLICK_MODELS:
        raise ValueError(f"model must be one of {', '.join(CLICK_MODELS)}, got {model!r}")
    unknown = set(settings) - set(BOOK[model])
    if unknown:
        raise TypeError(f'{model} has no setting {", ".join(sorted(unknown))}')
    s = {**BOOK[model], **{k: v for k, v in settings.items() if v is not None}}
    for key in ('num_factors', 'batch_size', 'num_epochs'):
        s[key] = positive_int(key, s[key])
    s['lr'] = number('lr', s['lr'], lambda v: v > 0, 'a finite positive number')
    if model == 'deepfm':
        s['mlp_dims'] = check_mlp_dims(s['mlp_dims'])
        s['drop_rate'] = fraction('drop_rate', s['drop_rate'])
    return s


def fraction(name, value):
    """A dropout rate: a number in [0, 1)."""
    return number(name, value, lambda v: 0 <= v < 1, 'a number in [0, 1)')


def flag(name, value):
    """``value`` if it is True or False (``'yes'`` and 1 are not)."""
    check(name, value, isinstance(value, (bool, numpy.bool_)), 'True or False')
    return bool(value)


def choice(name, value, choices):
    """``value`` if it is one of ``choices`` (compared by type too: 1 is not True)."""
    ok = any(value is c or (type(value) is type(c) and value == c) for c in choices)
    check(name, value, ok, 'one of ' + ', '.join(map(repr, choices)))
    return value


def caser_convolutions(horizontal, vertical):
    """Caser's ablation flags, ``(horizontal, vertical)``: each True or False, not both
    False (the fully connected layer needs an input)."""
    horizontal, vertical = flag('horizontal', horizontal), flag('vertical', vertical)
    if not (horizontal or vertical):
        raise ValueError('Caser needs one of its convolutions: horizontal and vertical cannot '
                         'both be False')
    return horizontal, vertical


def activation(name, value):
    """``value`` if it names an activation both tabs know (:data:`~d2l_recsys.defaults.
    ACTIVATIONS`) or is None (the identity); else a ValueError naming the argument."""
    if value is None or (isinstance(value, str) and value in ACTIVATIONS):
        return value
    raise ValueError(f'{name}={value!r} is not an activation; use one of '
                     f'{", ".join(ACTIVATIONS)} or None'[:300])


def brief(text, limit=160):
    """The first line of ``text``, whole when it fits in ``limit`` characters, else cut after
    its last full sentence or word that fits, with '...': never mid-word."""
    line = (str(text).strip().splitlines() or [''])[0].strip()
    if len(line) <= limit:
        return line
    head = line[:limit - 3]
    end = head.rfind('. ')
    if end > 0:
        return head[:end + 1]
    return (head[:head.rfind(' ')] if ' ' in head else head).rstrip(' ,;:') + '...'


def check_sizes(**sizes):
    """Each of ``sizes`` as a positive int, or a ValueError naming the first that is not:
    embedding and dense layers accept 0 or 2.5 and fail later, if at all."""
    return {name: positive_int(name, value) for name, value in sizes.items()}


def layer_widths(name, value):
    """A model's hidden layer widths as the constructors take them: :func:`int_list`, or an
    empty list or tuple (no hidden layer: the book's code then feeds its input on)."""
    if isinstance(value, (list, tuple)) and not value:
        return ()
    return int_list(name, value)


def neumf_arguments(num_factors, num_users, num_items, nums_hiddens):
    """NeuMF's constructor arguments: positive integer sizes and positive layer widths
    (:func:`layer_widths`); ValueError naming the first that is not, in both tabs."""
    check_sizes(num_factors=num_factors, num_users=num_users, num_items=num_items)
    return layer_widths('nums_hiddens', nums_hiddens)


def caser_arguments(num_factors, num_users, num_items, L, d, d_prime, drop_ratio):
    """Caser's constructor arguments: positive integer sizes (the window ``L``, ``d``
    horizontal filters per height, ``d_prime`` vertical ones) and ``drop_ratio`` in [0, 1);
    ValueError naming the first that is not, in both tabs."""
    check_sizes(num_factors=num_factors, num_users=num_users, num_items=num_items, L=L, d=d,
                d_prime=d_prime)
    fraction('drop_ratio', drop_ratio)


def field_dims_argument(field_dims):
    """FM's and DeepFM's ``field_dims``: a non-empty sequence of positive integers (each
    field's number of values), as a list of ints; ValueError naming ``field_dims``."""
    values = field_dims.tolist() if hasattr(field_dims, 'tolist') else field_dims  # arrays
    try:
        dims = [integer('field_dims', d, 1) for d in values]
    except (TypeError, ValueError):
        dims = []
    check('field_dims', field_dims, bool(dims) and not isinstance(field_dims, str),
          "one or more positive integers, each field's number of values")
    return dims


def click_arguments(field_dims, num_factors, mlp_dims=None, drop_rate=None):
    """FM's (``mlp_dims`` None) and DeepFM's constructor arguments: :func:`field_dims_argument`,
    a positive ``num_factors``, DeepFM's ``mlp_dims`` (:func:`layer_widths`) and
    ``drop_rate`` in [0, 1); ValueError naming the first that is not, in both tabs."""
    field_dims_argument(field_dims)
    positive_int('num_factors', num_factors)
    if mlp_dims is not None:
        layer_widths('mlp_dims', mlp_dims)
        fraction('drop_rate', drop_rate)


def autorec_arguments(num_hidden, num_users, dropout=0.05, *, hidden_layers=(),
                      encoder_activation='sigmoid', decoder_activation=None,
                      hidden_activation='encoder', input_dropout=0., clip=False):
    """AutoRec's constructor arguments, checked as every tab's ``AutoRec`` (and the MXNet fast
    path's block) takes them: sizes positive integers, the dropout rates in [0, 1), activations
    among :data:`~d2l_recsys.defaults.ACTIVATIONS` or None (``hidden_activation='encoder'``:
    the encoder's), ``clip`` True or False. Returns them as a namespace, normalised."""
    check_sizes(num_hidden=num_hidden, num_users=num_users)
    if isinstance(hidden_layers, (str, bytes)) or not hasattr(hidden_layers, '__iter__'):
        raise ValueError(f'hidden_layers must be a sequence of sizes, got {hidden_layers!r}')
    encoder = activation('encoder_activation', encoder_activation)
    return types.SimpleNamespace(
        num_hidden=int(num_hidden), num_users=int(num_users),
        dropout=fraction('dropout', dropout),
        hidden_layers=tuple(positive_int('hidden_layers', h) for h in hidden_layers),
        encoder_activation=encoder,
        decoder_activation=activation('decoder_activation', decoder_activation),
        hidden_activation=(encoder if isinstance(hidden_activation, str) and
                           hidden_activation == 'encoder' else
                           activation('hidden_activation', hidden_activation)),
        input_dropout=fraction('input_dropout', input_dropout), clip=flag('clip', clip))


def gpu_index(item, index, count, framework, why_none, kind='gpu'):
    """``count`` (the GPUs ``framework`` sees) after checking that GPU ``index`` is one of
    them; else a ValueError naming ``item``, what was asked for (``why_none``: why there is
    none at all; ``kind``: the framework's name for a GPU, ``gpu`` or ``cuda``)."""
    if count == 0:
        raise ValueError(f'devices: {item!r} requested but {framework} sees no GPU: {why_none}')
    if index >= count:
        raise ValueError(f'devices: {item!r} requested but {framework} sees {count} GPU(s) '
                         f'({kind}:0 to {kind}:{count - 1})')
    return count


def check_seed(seed, name='seed'):
    """``seed`` as an int in [0, 2**32), or a ValueError naming ``name``."""
    return integer(name, seed, 0, SEED_LIMIT - 1, 'an integer in [0, 2**32)')


def parse_seeds(text, name):
    """Seeds from ``'0,1,2'`` (``''``: none): each in [0, 2**32), none twice; a ValueError
    naming ``name`` (e.g. ``'--eval-seeds'``) otherwise."""
    seeds = []
    for part in str(text).split(','):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f'{name} must be integers separated by commas, got '
                             f'{text!r}') from None
        seeds.append(check_seed(value, f'{name}: each seed'))
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f'{name} names seed {twice[0]} twice')
    return seeds


def index(name, value, n):
    """``value`` as an int if it is a 0-based index below ``n`` (an integer: 2.7 is not
    user 2); else a one-line error."""
    if not _is_integer(value):
        raise ValueError(f'{name} must be an integer index, got {value!r}'[:200])
    if not 0 <= value < n:
        raise ValueError(f'{name} {value} is out of range: the model knows 0..{n - 1} '
                         f'(0-based indices, MovieLens ids 1..{n} minus one)')
    return int(value)


def indices(name, values, n):
    """``values`` (any iterable of 0-based indices below ``n``) as an int64 array; a negative
    index is not the last item, a float is not an index."""
    a = numpy.asarray(list(values) if not isinstance(values, numpy.ndarray) else values)
    if a.size == 0:
        return numpy.zeros(0, dtype=numpy.int64)
    if a.ndim != 1 or a.dtype.kind not in 'iu' and not (
            a.dtype.kind == 'f' and numpy.isfinite(a).all() and (a == numpy.round(a)).all()):
        raise ValueError(f'{name} must be 0-based integer indices, got '
                         f'{a.tolist()[:5]!r}'[:200])
    bad = a[(a < 0) | (a >= n)]
    if bad.size:
        raise ValueError(f'{name}: index {bad[0]:g} is out of range: the model knows '
                         f'0..{n - 1}')
    return a.astype(numpy.int64)


def check_ratings(ratings, where, scale=RATING_SCALE, *, zero=False):
    """Raise ValueError unless every rating is finite and within ``scale`` (1 to 5 stars;
    with ``zero=True`` 0 also passes: the unknown entries of an interaction matrix)."""
    a = numpy.asarray(ratings)
    if a.dtype.kind not in 'iuf':
        raise ValueError(f'{where}: ratings are {a.dtype}, not numbers')
    if not a.size:
        return a
    if a.dtype.kind == 'f' and not numpy.isfinite(a).all():
        raise ValueError(f'{where}: ratings hold non-finite values')
    low, high = scale
    bad = (a < low) | (a > high)
    if zero:
        bad &= a != 0
    if bad.any():
        raise ValueError(f'{where}: rating {a[bad].flat[0]:g} is outside the rating scale, '
                         f'{low:g} to {high:g}' + (' (0: unknown)' if zero else ''))
    return a


def check_finite(named, where):
    """Raise ValueError naming the first of ``named`` (``(name, host array)`` pairs) that
    holds NaN or infinite values: a model like that predicts nothing."""
    for name, value in named:
        if not numpy.isfinite(numpy.asarray(value, dtype=numpy.float64)).all():
            raise ValueError(f'{where}: {name} holds NaN or infinite values; the model is '
                             'unusable (train it again)')


def _gib(size):
    gib = size / 2 ** 30
    return f'{gib:,.0f}' if gib >= 10 else f'{gib:.1f}'


def check_memory(count, what, bytes_per=4, copies=1, detail=''):
    """ValueError when ``copies`` of ``count`` numbers of ``bytes_per`` bytes would not fit in
    this machine's memory, before anything is allocated (``what`` names the request,
    ``detail`` what the copies are)."""
    need = count * bytes_per * copies
    try:
        have = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (AttributeError, ValueError, OSError):
        return
    if need > have:
        raise ValueError(f'{what} needs about {_gib(need)} GiB{detail}; this machine has '
                         f'{_gib(have)} GiB')


def check_point(space, point, where):
    """Raise ValueError unless ``point`` (``{name: value}``) lies in ``space`` (a search space
    as :data:`d2l_recsys.defaults.SPACES` writes one: ``(kind, low, high)`` or a tuple of
    choices), naming ``where`` (e.g. ``'--start'``) and the value."""
    for name, value in point.items():
        spec = space[name]
        label = f'{where}: {name}'
        if spec[0] in ('log', 'float'):
            number(label, value, lambda v: spec[1] <= v <= spec[2],
                   f'a number in [{spec[1]:g}, {spec[2]:g}] (the search space)')
        elif spec[0] == 'int-log':
            integer(label, value, spec[1], spec[2],
                    f'an integer in [{spec[1]}, {spec[2]}] (the search space)')
        else:
            choice(label, value, spec)
    return point


def env_flag(name, default=False, environ=None):
    """An on/off environment variable: 1, yes, true, on or 0, no, false, off (any case;
    unset or empty: ``default``); anything else is a ValueError naming the variable."""
    text = (os.environ if environ is None else environ).get(name, '').strip().lower()
    if not text:
        return default
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ValueError(f'{name} must be one of {", ".join(TRUE)} (on) or {", ".join(FALSE)} '
                     f'(off), got {text!r}')


def env_int(name, default, low=None, high=None, environ=None):
    """An integer environment variable in ``[low, high]`` (unset or empty: ``default``);
    anything else is a ValueError naming the variable."""
    text = (os.environ if environ is None else environ).get(name, '').strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f'{name} must be an integer, got {text!r}') from None
    return integer(name, value, low, high)


def env_seed(name, default=0, environ=None):
    """A seed from an environment variable: an integer in [0, 2**32) (:func:`env_int`)."""
    return env_int(name, default, 0, SEED_LIMIT - 1, environ=environ)


# --- argparse types: the same checks as one-line usage errors ---------------------------------
def _argument(convert, check_value):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            noun = 'an integer' if convert is int else 'a number'
            raise argparse.ArgumentTypeError(f'{text!r} is not {noun}') from None
        why = check_value(value, text)
        if why:
            raise argparse.ArgumentTypeError(why)
        return value
    return parse


def _finite_then(ok, what):
    def check_value(value, text):
        if not math.isfinite(value):
            return f'must be a finite number, got {text}'
        return None if ok(value) else f'must be {what}, got {text}'
    return check_value


arg_positive_int = _argument(
    int, lambda v, t: None if v >= 1 else f'must be a positive integer, got {v}')
arg_nonneg_int = _argument(
    int, lambda v, t: None if v >= 0 else f'must be zero or positive, got {v}')
arg_seed = _argument(
    int, lambda v, t: None if 0 <= v < SEED_LIMIT else f'must be an integer in [0, 2**32), '
                                                       f'got {v}')
arg_finite = _argument(float, _finite_then(lambda v: True, 'finite'))
arg_positive_float = _argument(float, _finite_then(lambda v: v > 0, 'positive'))
arg_nonneg_float = _argument(float, _finite_then(lambda v: v >= 0, 'zero or positive'))
arg_ratio = _argument(float, _finite_then(lambda v: 0 < v < 1, 'between 0 and 1'))
arg_fraction = _argument(float, _finite_then(lambda v: 0 <= v < 1, 'in [0, 1)'))
