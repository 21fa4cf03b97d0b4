"""Feature-Rich Recommender Systems (PyTorch): the advertising data set and ``CTRDataset``.

The MXNet tab's :mod:`~d2l_recsys.mxnet.ctr` in PyTorch, the same names: ``DATA_HUB``,
``download_extract`` (:func:`d2l_recsys.hub.download_extract`), :class:`CTRDataset` (the book's
reading loop and its per-item dictionary lookups, :func:`d2l_recsys.clicks.read_ctr_book`, as a
``torch.utils.data.Dataset``) and :class:`CTRDatasetFast` (the same attributes and items from
arrays, :func:`d2l_recsys.clicks.read_ctr_arrays`). ``field_dims`` and ``offsets`` are int64
NumPy arrays; an item is ``(features + offsets, label)``: an int64 tensor of ``num_feat``
indices (what ``nn.Embedding`` takes) and a float32 tensor holding the label, so that a
``DataLoader`` batches them as ``(batch, num_feat)`` and ``(batch, 1)``, the MXNet tab's
shapes. Book: https://d2l.ai/chapter_recommender-systems/ctr.html
"""
import numpy as onp
import torch

from .. import clicks
from ..hub import DATA_HUB, DATA_URL, download_extract

__all__ = ['CTRDataset', 'CTRDatasetFast', 'DATA_HUB', 'DATA_URL', 'download_extract']

DATA_HUB['ctr'] = (DATA_URL + 'ctr.zip',
                   'e18327c48c8e8e5c23da714dd614e390d369843f')


class CTRDataset(torch.utils.data.Dataset):
    """The book's ``CTRDataset``: the file read line by line as the book's loop reads it, each
    item's fields looked up in ``feat_mapper`` when it is asked for. The same arguments;
    ``feat_mapper``/``defaults`` as the book builds them (see :mod:`d2l_recsys.clicks`)."""
    def __init__(self, data_path, feat_mapper=None, defaults=None,
                 min_threshold=4, num_feat=34):
        book = clicks.read_ctr_book(data_path, feat_mapper, defaults, min_threshold, num_feat)
        self.NUM_FEATS, self.count, self.data = num_feat, book.count, book.data
        self.feat_mapper, self.defaults = book.feat_mapper, book.defaults
        self.field_dims, self.offsets = book.field_dims, book.offsets

    def __len__(self):
        return self.count

    def __getitem__(self, idx):
        feat = onp.array([self.feat_mapper[i + 1].get(v, self.defaults[i + 1])
                          for i, v in enumerate(self.data[idx]['x'])], dtype=onp.int64)
        return (torch.from_numpy(feat + self.offsets),
                torch.tensor(self.data[idx]['y'], dtype=torch.float32))


class CTRDatasetFast(torch.utils.data.Dataset):
    """:class:`CTRDataset` vectorised: the same constructor, attributes and items, and beside
    them ``features`` (count, num_feat) int64 with the offsets added and ``labels`` (count, 1)
    float32, NumPy arrays read in one pass (``order='stable'``: values numbered in order of
    first appearance, the same in every process)."""
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
        self.field_dims, self.offsets = arrays.field_dims, arrays.offsets
        self.features = arrays.features
        self.labels = arrays.labels.reshape(-1, 1)

    def __len__(self):
        return self.count

    def __getitem__(self, idx):
        return torch.from_numpy(self.features[idx]), torch.from_numpy(self.labels[idx])

    def __getitems__(self, indices):
        # A DataLoader's batch at once (PyTorch fetches through this when it exists): the
        # same items, as views of two tensors, which the default collate stacks.
        idx = onp.asarray(indices, dtype=onp.int64)
        return list(zip(torch.from_numpy(self.features[idx]).unbind(0),
                        torch.from_numpy(self.labels[idx]).unbind(0)))
