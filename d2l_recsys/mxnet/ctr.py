"""Feature-Rich Recommender Systems (MXNet): the advertising data set and ``CTRDataset``.

Book: https://d2l.ai/chapter_recommender-systems/ctr.html. ``DATA_HUB['ctr']`` is the book's
entry, and ``download_extract`` (:func:`d2l_recsys.hub.download_extract`) fetches it with its
SHA-1 into the cache, or, where the book's server cannot be reached, takes a copy the user
gives (``path=``, ``$D2L_RECSYS_CTR``); ``download_extract('ml100k-ctr')`` is MovieLens 100K
as click data in the same format, 8 fields (:mod:`d2l_recsys.ml100k_ctr`).

:class:`CTRDataset` is the book's class as printed: it reads the file line by line and looks
every field of an item up in a dictionary when the item is asked for. :class:`CTRDatasetFast`
gives the same ``field_dims``, ``offsets``, ``feat_mapper``, ``defaults`` and items, element for
element, from arrays (:func:`d2l_recsys.clicks.read_ctr_arrays`), and holds all items at once in
``features`` and ``labels`` for the fast trainer. Both number a field's values as the book
does, in the order of a Python set of strings, which changes from process to process; give
``feat_mapper``/``defaults`` from :func:`d2l_recsys.clicks.stable_feat_mapper` for numbers that
do not (the experiment functions do).
"""
from collections import defaultdict

import numpy as onp
from mxnet import gluon, np

from .. import clicks
from ..hub import DATA_HUB, DATA_URL, download_extract

__all__ = ['CTRDataset', 'CTRDatasetFast', 'DATA_HUB', 'DATA_URL', 'download_extract']

DATA_HUB['ctr'] = (DATA_URL + 'ctr.zip',
                   'e18327c48c8e8e5c23da714dd614e390d369843f')


class CTRDataset(gluon.data.Dataset):
    def __init__(self, data_path, feat_mapper=None, defaults=None,
                 min_threshold=4, num_feat=34):
        self.NUM_FEATS, self.count, self.data = num_feat, 0, {}
        feat_cnts = defaultdict(lambda: defaultdict(int))
        self.feat_mapper, self.defaults = feat_mapper, defaults
        self.field_dims = np.zeros(self.NUM_FEATS, dtype=np.int64)
        with open(data_path) as f:
            for line in f:
                instance = {}
                values = line.rstrip('\n').split('\t')
                if len(values) != self.NUM_FEATS + 1:
                    continue
                label = np.float32([0, 0])
                label[int(values[0])] = 1
                instance['y'] = [np.float32(values[0])]
                for i in range(1, self.NUM_FEATS + 1):
                    feat_cnts[i][values[i]] += 1
                    instance.setdefault('x', []).append(values[i])
                self.data[self.count] = instance
                self.count = self.count + 1
        if self.feat_mapper is None and self.defaults is None:
            feat_mapper = {i: {feat for feat, c in cnt.items() if c >=
                               min_threshold} for i, cnt in feat_cnts.items()}
            self.feat_mapper = {i: {feat_v: idx for idx, feat_v in enumerate(feat_values)}
                                for i, feat_values in feat_mapper.items()}
            self.defaults = {i: len(feat_values) for i, feat_values in feat_mapper.items()}
        for i, fm in self.feat_mapper.items():
            self.field_dims[i - 1] = len(fm) + 1
        self.offsets = np.array((0, *np.cumsum(self.field_dims).asnumpy()
                                 [:-1]))

    def __len__(self):
        return self.count

    def __getitem__(self, idx):
        feat = np.array([self.feat_mapper[i + 1].get(v, self.defaults[i + 1])
                         for i, v in enumerate(self.data[idx]['x'])])
        return feat + self.offsets, self.data[idx]['y']


class CTRDatasetFast(gluon.data.Dataset):
    """:class:`CTRDataset` vectorised: the same constructor, attributes and items.

    ``field_dims`` (an int64 MXNet array), ``offsets`` (float32, as the book's), ``feat_mapper``
    and ``defaults`` are the book's; items are ``(features + offsets, [label])`` as the book's
    ``__getitem__`` returns them, the features a float32 NumPy row, which the ``DataLoader``
    stacks into the same batch as the book's items (one MXNet array a batch, not one an
    item). Beside them: ``features`` (count, num_feat) float32 host
    array with the offsets added, every item's first part, and ``labels`` (count, 1) float32,
    read in one pass (:func:`d2l_recsys.clicks.read_ctr_arrays`); ``order='stable'`` numbers the
    values in order of first appearance, the same in every process.
    """
    def __init__(self, data_path, feat_mapper=None, defaults=None, min_threshold=4,
                 num_feat=34, *, order='book'):
        self._hold(clicks.read_ctr_arrays(data_path, feat_mapper, defaults, min_threshold,
                                          num_feat, order=order))

    @classmethod
    def from_arrays(cls, arrays):
        """The data set of :func:`d2l_recsys.clicks.read_ctr_arrays`'s result (no file read)."""
        data = cls.__new__(cls)
        data._hold(arrays)
        return data

    def _hold(self, arrays):
        self.NUM_FEATS, self.count = arrays.num_feat, arrays.count
        self.feat_mapper, self.defaults = arrays.feat_mapper, arrays.defaults
        self.field_dims = np.array(arrays.field_dims, dtype=np.int64)
        self.offsets = np.array(arrays.offsets.astype(onp.float32))
        self.features = arrays.features.astype(onp.float32)
        self.labels = arrays.labels.reshape(-1, 1)

    def __len__(self):
        return self.count

    def __getitem__(self, idx):
        # A NumPy row: the DataLoader stacks a batch of them into one MXNet array, the one it
        # makes of the book's items, without an MXNet array per item.
        return self.features[idx], [self.labels[idx, 0]]
