r"""Click data in the book's ``ctr`` format, framework-free: reading it, its features, its metrics.

The feature-rich sections of the book (https://d2l.ai/chapter_recommender-systems/ctr.html,
``fm.html``, ``deepfm.html``) read an advertising data set of tab-separated lines: a 0/1 click
label, then ``num_feat`` categorical fields (34 in the book's data). Its ``CTRDataset`` counts
every field's values in the training file, keeps those seen at least ``min_threshold`` (4)
times, numbers them per field (a field's unseen or rare values share one more index, the
field's "default") and returns each line's indices plus the field's offset, so that one
embedding table of ``sum(field_dims)`` rows serves every field.

Both tabs' ``CTRDataset`` do that per line and per item with Python dictionaries, as the book
does. Here is the same done with arrays, element for element: :func:`read_ctr_lines` splits a
file as the book's loop does (text mode, ``'\n'`` lines, lines with another number of fields
skipped), :func:`book_feat_mapper` numbers the kept values in exactly the order the book's set
comprehension gives (Python's set of the values in first-appearance order), and
:func:`read_ctr_arrays` returns every item at once. Two facts a reader of the book's class
meets: its numbering follows the iteration order of a set of strings, which changes from
process to process (Python randomises string hashes, ``PYTHONHASHSEED``), so the same file gives
the same fields, sizes and kept values but other indices in another process;
:func:`stable_feat_mapper` numbers the same kept values in order of first appearance instead,
the same in every process, and is what the experiment functions pass to ``CTRDataset``.

:func:`click_metrics` is the exact measure of a click model beside the book's: the area under
the ROC curve, the log loss of the model's own probability and the accuracy at 0.5.
"""

import numpy
import pandas as pd

__all__ = ['read_ctr_lines', 'book_feat_mapper', 'stable_feat_mapper', 'map_features',
           'field_dims_and_offsets', 'read_ctr_arrays', 'ctr_arrays', 'read_ctr_book',
           'CTRArrays', 'click_metrics', 'roc_auc', 'log_loss', 'accuracy_at', 'check_ctr_file',
           'check_feat_mapper', 'NUM_FEAT', 'MIN_THRESHOLD', 'PROB_CLIP']

NUM_FEAT = 34          # the book's advertising data: 34 categorical fields after the label
MIN_THRESHOLD = 4      # CTRDataset's default: values seen fewer times share the default index
PROB_CLIP = 1e-7       # log loss: float32 probabilities saturate to exactly 0 and 1


def _read_text(path):
    # As the book's ``open(data_path)`` reads it: text mode (universal newlines), the
    # platform's default encoding.
    with open(path) as f:
        return f.read()


def read_ctr_lines(path, num_feat=NUM_FEAT):
    """The lines of a ``ctr`` file that the book's ``CTRDataset`` keeps, as arrays.

    Returns ``(labels, values, skipped)``: the label strings (n,), the field strings
    (n, num_feat) (object arrays, file order) and the number of lines skipped because they do
    not hold ``num_feat + 1`` tab-separated fields (the book skips them silently).
    """
    lines = _read_text(path).split('\n')
    width = num_feat + 1
    counts = numpy.fromiter((line.count('\t') for line in lines), dtype=numpy.int64,
                            count=len(lines))
    keep = counts == width - 1
    skipped = int((~keep).sum()) - (1 if lines and lines[-1] == '' else 0)
    kept = [line for line, k in zip(lines, keep) if k]
    if not kept:
        return (numpy.zeros(0, dtype=object), numpy.zeros((0, num_feat), dtype=object),
                skipped)
    flat = numpy.array('\t'.join(kept).split('\t'), dtype=object).reshape(len(kept), width)
    return flat[:, 0], flat[:, 1:], skipped


def _label_values(labels, path):
    """The book's label handling, per distinct label string: ``np.float32(values[0])`` as the
    item's label, after ``label[int(values[0])] = 1`` on a 2-vector (so ``int`` must parse it
    and index two slots). ValueError naming the first bad line otherwise."""
    codes, uniques = pd.factorize(labels, sort=False)
    out = numpy.zeros(len(uniques), dtype=numpy.float32)
    for k, text in enumerate(uniques):
        try:
            slot = int(text)
            numpy.zeros(2)[slot]
            out[k] = numpy.float32(text)
        except (ValueError, IndexError):
            line = int(numpy.flatnonzero(codes == k)[0]) + 1
            raise ValueError(f'{path}: label {text[:40]!r} of the {_ordinal(line)} kept line '
                             "is not 0 or 1 (the book's CTRDataset reads labels with "
                             'int(), as an index of two slots)') from None
    return out[codes]


def _ordinal(n):
    suffix = 'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')
    return f'{n}{suffix}'


def _counts(values):
    """Per field (1-based, as the book's ``feat_cnts``): ``{value: count}`` in order of first
    appearance."""
    cnts = {}
    for j in range(values.shape[1]):
        codes, uniques = pd.factorize(values[:, j], sort=False)
        counts = numpy.bincount(codes, minlength=len(uniques))
        cnts[j + 1] = dict(zip(uniques.tolist(), counts.tolist()))
    return cnts


def book_feat_mapper(values, min_threshold=MIN_THRESHOLD):
    """``(feat_mapper, defaults)`` exactly as the book's ``CTRDataset`` builds them from these
    field values (rows of strings): its set comprehension over each field's value counts in
    order of first appearance, then ``enumerate`` over the set. The numbering is the iteration
    order of a Python set of strings: the same in this process as the book's class gives, not
    the same in another process (string hashing is randomised)."""
    feat_cnts = _counts(values)
    feat_mapper = {i: {feat for feat, c in cnt.items() if c >=
                       min_threshold} for i, cnt in feat_cnts.items()}
    mapper = {i: {feat_v: idx for idx, feat_v in enumerate(feat_values)}
              for i, feat_values in feat_mapper.items()}
    defaults = {i: len(feat_values) for i, feat_values in feat_mapper.items()}
    return mapper, defaults


def stable_feat_mapper(values, min_threshold=MIN_THRESHOLD):
    """``(feat_mapper, defaults)`` keeping the same values as :func:`book_feat_mapper` (seen at
    least ``min_threshold`` times), numbered in order of first appearance: the same in every
    process. ``values``: the field strings (n, num_feat) of :func:`read_ctr_lines`."""
    feat_cnts = _counts(values)
    mapper = {i: {feat: idx for idx, feat in enumerate(
        feat for feat, c in cnt.items() if c >= min_threshold)} for i, cnt in feat_cnts.items()}
    defaults = {i: len(m) for i, m in mapper.items()}
    return mapper, defaults


def map_features(values, feat_mapper, defaults):
    """The per-field indices (n, num_feat) int64, before offsets: ``feat_mapper[i].get(v,
    defaults[i])`` for every value, as the book's ``__getitem__`` computes them one item at a
    time (one dictionary lookup per distinct value here)."""
    n, num_feat = values.shape
    out = numpy.empty((n, num_feat), dtype=numpy.int64)
    for j in range(num_feat):
        mapper, default = feat_mapper[j + 1], defaults[j + 1]
        codes, uniques = pd.factorize(values[:, j], sort=False)
        lut = numpy.fromiter((mapper.get(v, default) for v in uniques), dtype=numpy.int64,
                             count=len(uniques))
        out[:, j] = lut[codes]
    return out


def field_dims_and_offsets(feat_mapper, num_feat):
    """``field_dims`` (each field's kept values plus its default; 0 for a field the mapper
    lacks, as the book's zeros) and ``offsets`` (0, then the running sum), both int64."""
    field_dims = numpy.zeros(num_feat, dtype=numpy.int64)
    for i, fm in feat_mapper.items():
        field_dims[i - 1] = len(fm) + 1
    offsets = numpy.concatenate([[0], numpy.cumsum(field_dims)[:-1]]).astype(numpy.int64)
    return field_dims, offsets


class CTRArrays:
    """Everything ``CTRDataset`` holds, as arrays: ``count``, ``feat_mapper``, ``defaults``,
    ``field_dims``, ``offsets`` (int64), ``features`` (count, num_feat) int64 with the offsets
    added (the items' first parts) and ``labels`` (count,) float32, and ``skipped`` lines."""
    def __init__(self, **fields):
        self.__dict__.update(fields)


def read_ctr_arrays(data_path, feat_mapper=None, defaults=None, min_threshold=MIN_THRESHOLD,
                    num_feat=NUM_FEAT, *, order='book'):
    """The book's ``CTRDataset(data_path, feat_mapper, defaults, min_threshold, num_feat)`` as
    arrays (:class:`CTRArrays`), vectorised: the same kept lines, ``feat_mapper``,
    ``defaults``, ``field_dims``, ``offsets`` and items, element for element.

    Without ``feat_mapper`` and ``defaults`` they are built from this file, numbered as the
    book numbers them (``order='book'``: :func:`book_feat_mapper`) or in order of first
    appearance (``order='stable'``: :func:`stable_feat_mapper`, the same in every process).
    A label that the book's ``int(label)`` cannot read into its two slots raises ValueError
    naming the line (the book's class raises too, without saying where).
    """
    labels, values, skipped = read_ctr_lines(data_path, num_feat)
    return ctr_arrays(labels, values, feat_mapper, defaults, min_threshold, num_feat,
                      order=order, skipped=skipped, where=data_path)


def ctr_arrays(labels, values, feat_mapper=None, defaults=None, min_threshold=MIN_THRESHOLD,
               num_feat=NUM_FEAT, *, order='book', skipped=0, where='click lines'):
    """:func:`read_ctr_arrays` of lines already read (:func:`read_ctr_lines`' label strings and
    field strings, or a subset of their rows): a validation set cut from a training file is
    mapped with the rest's ``feat_mapper``, as a test file is with the training file's."""
    if feat_mapper is None and defaults is None:
        build = {'book': book_feat_mapper, 'stable': stable_feat_mapper}.get(order)
        if build is None:
            raise ValueError(f"order must be 'book' or 'stable', got {order!r}")
        feat_mapper, defaults = build(values, min_threshold)
    labels = _label_values(labels, where)
    field_dims, offsets = field_dims_and_offsets(feat_mapper, num_feat)
    if len(labels):
        features = map_features(values, feat_mapper, defaults) + offsets
    else:
        features = numpy.zeros((0, num_feat), dtype=numpy.int64)
    return CTRArrays(count=len(labels), feat_mapper=feat_mapper, defaults=defaults,
                     field_dims=field_dims, offsets=offsets, features=features, labels=labels,
                     skipped=skipped, num_feat=num_feat)


def read_ctr_book(data_path, feat_mapper=None, defaults=None, min_threshold=MIN_THRESHOLD,
                  num_feat=NUM_FEAT):
    """The book's ``CTRDataset.__init__`` loop with NumPy for MXNet's ``np`` (the PyTorch tab's
    ``CTRDataset`` runs it): returns :class:`CTRArrays` with ``data`` (the book's
    ``{index: {'y': [label], 'x': [values]}}``) instead of ``features``/``labels``."""
    from collections import defaultdict
    np = numpy
    NUM_FEATS, count, data = num_feat, 0, {}
    feat_cnts = defaultdict(lambda: defaultdict(int))
    with open(data_path) as f:
        for line in f:
            instance = {}
            values = line.rstrip('\n').split('\t')
            if len(values) != NUM_FEATS + 1:
                continue
            label = np.float32([0, 0])
            label[int(values[0])] = 1
            instance['y'] = [np.float32(values[0])]
            for i in range(1, NUM_FEATS + 1):
                feat_cnts[i][values[i]] += 1
                instance.setdefault('x', []).append(values[i])
            data[count] = instance
            count = count + 1
    if feat_mapper is None and defaults is None:
        feat_mapper = {i: {feat for feat, c in cnt.items() if c >=
                           min_threshold} for i, cnt in feat_cnts.items()}
        feat_mapper = {i: {feat_v: idx for idx, feat_v in enumerate(feat_values)}
                       for i, feat_values in feat_mapper.items()}
        defaults = {i: len(feat_values) for i, feat_values in feat_mapper.items()}
    field_dims, offsets = field_dims_and_offsets(feat_mapper, num_feat)
    return CTRArrays(count=count, data=data, feat_mapper=feat_mapper, defaults=defaults,
                     field_dims=field_dims, offsets=offsets, num_feat=num_feat)


# --------------------------------------------------------------- checks of what users give

def check_feat_mapper(feat_mapper, defaults, field_dims=None, where='feature mapper'):
    """``(feat_mapper, defaults)`` with int keys, checked as input (a saved model's): fields
    1..F, each a ``{value string: index}`` numbering 0..n-1 once each, its default n, and
    ``field_dims`` (when given) n + 1 per field. ValueError naming what is wrong."""
    if not isinstance(feat_mapper, dict) or not isinstance(defaults, dict):
        raise ValueError(f'{where}: feat_mapper and defaults must be objects')
    try:
        mapper = {int(i): m for i, m in feat_mapper.items()}
        dflt = {int(i): d for i, d in defaults.items()}
    except (TypeError, ValueError):
        raise ValueError(f'{where}: field keys must be integers 1..F') from None
    fields = sorted(mapper)
    if fields != list(range(1, len(fields) + 1)) or sorted(dflt) != fields:
        raise ValueError(f'{where}: fields must be 1..F in both feat_mapper and defaults, '
                         f'got {fields[:5]} and {sorted(dflt)[:5]}')
    for i in fields:
        m = mapper[i]
        if not isinstance(m, dict) or not all(isinstance(k, str) for k in m):
            raise ValueError(f'{where}: field {i} must map value strings to indices')
        idx = sorted(m.values())
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in idx) \
                or idx != list(range(len(m))):
            raise ValueError(f'{where}: field {i} must number its values 0..{len(m) - 1} '
                             'once each')
        if dflt[i] != len(m) or isinstance(dflt[i], bool):
            raise ValueError(f'{where}: field {i} default must be {len(m)} (its number of '
                             f'values), got {dflt[i]!r}')
    if field_dims is not None:
        want = [len(mapper[i]) + 1 for i in fields]
        if [int(d) for d in field_dims] != want:
            raise ValueError(f'{where}: field_dims {list(field_dims)[:8]} do not fit the mapper '
                             f'({want[:8]})')
    return mapper, dflt


def check_ctr_file(path, num_feat=NUM_FEAT, *, what='click data'):
    """Check a ``ctr`` file given as input; returns ``(lines kept, lines skipped)``.

    Refused, with ValueError naming the file (and line): a file that cannot be read as text,
    one with no line of ``num_feat + 1`` tab-separated fields, a kept line whose label is not
    0 or 1. Lines with another number of fields are counted, not refused: the book's
    ``CTRDataset`` skips them.
    """
    try:
        labels, _, skipped = read_ctr_lines(path, num_feat)
    except UnicodeDecodeError as e:
        raise ValueError(f'{path}: not a text file ({e.reason} at byte {e.start})') from None
    except OSError as e:
        raise ValueError(f'{path}: cannot read it ({e.strerror or e})') from None
    if len(labels) == 0:
        raise ValueError(f'{path}: no line of {num_feat + 1} tab-separated fields (a 0/1 '
                         f'label and {num_feat} fields); not {what} with {num_feat} fields')
    bad = numpy.flatnonzero((labels != '0') & (labels != '1'))
    if len(bad):
        raise ValueError(f'{path}: the {_ordinal(int(bad[0]) + 1)} line with {num_feat + 1} '
                         f'fields has label {labels[bad[0]][:40]!r}; labels must be 0 or 1')
    return len(labels), skipped


# --------------------------------------------------------------- the exact metrics

def _host(a):
    return a.asnumpy() if hasattr(a, 'asnumpy') else numpy.asarray(
        a.detach().cpu() if hasattr(a, 'detach') else a)


def roc_auc(scores, labels):
    """The area under the ROC curve: the chance that a random click outscores a random
    non-click, ties counted half (the Mann-Whitney statistic, average ranks). NaN when the
    labels hold only one class."""
    s = _host(scores).astype(numpy.float64).reshape(-1)
    y = _host(labels).reshape(-1) > 0.5
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float('nan')
    ranks = pd.Series(s).rank(method='average').to_numpy()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def log_loss(probs, labels, clip=PROB_CLIP):
    """The mean negative log-likelihood of the labels under the probabilities, which are
    clipped to ``[clip, 1 - clip]`` first (a float32 sigmoid reaches exactly 0 and 1)."""
    p = numpy.clip(_host(probs).astype(numpy.float64).reshape(-1), clip, 1 - clip)
    y = _host(labels).astype(numpy.float64).reshape(-1)
    return float(-(y * numpy.log(p) + (1 - y) * numpy.log1p(-p)).mean())


def accuracy_at(probs, labels, threshold=0.5):
    """The share of labels predicted right by ``probability > threshold``."""
    p = _host(probs).reshape(-1)
    y = _host(labels).reshape(-1) > 0.5
    return float(((p > threshold) == y).mean())


def click_metrics(probs, labels):
    """The exact measures of a click model on one data set, from its predicted probabilities:
    ``auc`` (:func:`roc_auc`), ``log_loss`` (:func:`log_loss` of the model's own probability,
    not the book's loss, which applies a second sigmoid), ``accuracy`` (at 0.5,
    :func:`accuracy_at`), ``count`` and ``click_rate`` (the share of label 1: the accuracy of
    always answering the majority is ``max(click_rate, 1 - click_rate)``)."""
    p = _host(probs).reshape(-1)
    y = _host(labels).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f'click_metrics: {p.size} probabilities for {y.size} labels')
    if y.size == 0:
        raise ValueError('click_metrics: no labels')
    if not numpy.isfinite(p.astype(numpy.float64)).all():
        raise ValueError('click_metrics: the probabilities hold NaN or infinite values')
    return {'auc': roc_auc(p, y), 'log_loss': log_loss(p, y), 'accuracy': accuracy_at(p, y),
            'count': int(y.size), 'click_rate': float((y > 0.5).mean())}
