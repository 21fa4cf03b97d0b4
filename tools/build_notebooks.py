"""Build the chapter notebooks (notebooks/*.ipynb) from the prose below and the package source.

Every cell that shows one of the book's functions or classes is *generated* from the package
object with ``inspect.getsource``, so a notebook cannot drift from ``d2l_recsys``; such cells
carry ``metadata.d2l_recsys = {"source": "module:name", "as": name_in_notebook}``, which
``tests/test_notebooks.py`` uses to compare them with the package (AST, not bytes). Whatever
else those package functions use (helpers such as ``_resolve_plot``) is imported in the setup
cell, worked out here from the source, so that the notebook defines the book's code and then
runs it.

    python tools/build_notebooks.py            # (re)write notebooks/*.ipynb, without outputs
    python tools/build_notebooks.py --check    # exit 1 when a committed notebook is stale

Notebooks honour two environment variables: ``D2L_RECSYS_SHORT=1`` (1-2 epochs, for tests)
and ``D2L_RECSYS_SEED`` (default 0).
"""
import argparse
import ast
import builtins
import importlib
import inspect
import json
import os
import re
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_DIR = os.path.join(ROOT, 'notebooks')
META_KEY = 'd2l_recsys'

# The cell every notebook starts with. Names it binds are checked against the package
# modules' own globals (same objects), so the package code shown later runs unchanged.
SETUP = '''\
import os

import mxnet as mx
import numpy as onp
import pandas as pd
from d2l import mxnet as d2l
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

npx.set_np()

# D2L_RECSYS_SHORT=1 is a quick check (1-2 epochs); unset, the book's settings are used.
SHORT = os.environ.get('D2L_RECSYS_SHORT', '0') == '1'
# The book does not fix seeds; we do, so that a rerun gives the same split and numbers.
SEED = int(os.environ.get('D2L_RECSYS_SEED', '0'))'''


def md(text):
    return ('markdown', textwrap.dedent(text).strip('\n'), None)


def code(text):
    return ('code', textwrap.dedent(text).strip('\n'), None)


def src(target, as_name=None):
    """A cell holding the package's source of ``target`` ('module:name'), optionally renamed
    (the package's ``autorec_evaluator`` is the book's ``evaluator``)."""
    return ('source', target, as_name)


RECORD_NOTE = md('''
    *For `make reproduce`:* the cell below hands this notebook's results to the tables in
    `results/` (`d2l_recsys.records`); run anywhere else, it does nothing.
    ''')


def record(text):
    """The notebook's last two cells: a note, then the call that writes its results record."""
    return [RECORD_NOTE, code(text)]


# --------------------------------------------------------------------------- movielens
MOVIELENS = [
    md('''
    # The MovieLens 100K data set

    *Companion to the section "The MovieLens Dataset" of the recommender-systems chapter of
    Dive into Deep Learning; the code is the package `d2l_recsys`, shown cell by cell.*

    Research on recommender systems needs logs of what real people liked, and few such logs
    are public. MovieLens is one of them: a non-commercial film recommendation site that the
    GroupLens lab at the University of Minnesota has run since 1997, and whose rating records
    the lab publishes in several sizes. This notebook gets the smallest classic release,
    MovieLens 100K, looks at what is in it, and builds the two train/test splits and the data
    loaders that the matrix factorization and AutoRec notebooks train on.

    Set `D2L_RECSYS_SHORT=1` in the environment for a quick run; nothing here is slow anyway.
    '''),
    code(SETUP),
    md('''
    ## Getting the data

    The release holds 100,000 ratings on a scale of 1 to 5 stars, given by 943 users to 1,682
    films; every user in it has rated at least 20 films. The ratings live in `u.data`, one
    rating per line as `user id, item id, rating, Unix timestamp` separated by tabs; the other
    files of the archive (`u.item`, `u.user`, ...) describe the films and the users and are
    documented in the archive's README.

    The book downloads `ml-100k.zip` from GroupLens through `d2l.DATA_HUB`. The package asks
    `d2l_recsys.fetch.ml100k_dir()` for a folder holding `u.data`: it looks at an explicit
    path or `$D2L_RECSYS_DATA` first, then at its cache, then downloads from GroupLens (with
    the book's SHA-1 check) and, failing that, converts a copy published on PyPI. Each step
    prints one line, so you can see where your copy came from.

    `read_data_ml100k` returns the ratings as a pandas `DataFrame` together with the number of
    distinct users and items. Unlike the book's version it validates the file while reading
    it (`read_u_data`), so a truncated or foreign file fails with the file and line named.
    '''),
    src('d2l_recsys.data:read_data_ml100k'),
    md('''
    ## Statistics of the data set

    A first look at a few rows is the quickest way to see that the columns came out as
    intended.
    '''),
    code('''
    data, num_users, num_items = read_data_ml100k()
    sparsity = 1 - len(data) / (num_users * num_items)
    print(f'number of users: {num_users}, number of items: {num_items}')
    print(f'matrix sparsity: {sparsity:f}')
    print(data.head(5))
    '''),
    md('''
    Users are numbered 1 to 943 and films 1 to 1682. Put the ratings in a table with one row
    per user and one column per film and almost all of it is empty: only about 6.3% of the
    943 x 1682 cells hold a rating, a *sparsity* (share of empty cells) of about 93.7%. That
    is typical, and larger catalogues are emptier still; predicting the empty cells is the
    whole task, and side information about users and items is one way to cope with so few
    observations.

    A few more numbers that matter later: how many ratings a user or a film typically has,
    and the mean rating, which is the baseline any model has to beat.
    '''),
    code('''
    per_user = data.groupby('user_id').size()
    per_item = data.groupby('item_id').size()
    print(f'ratings per user: min {per_user.min()}, median {per_user.median():.0f}, '
          f'max {per_user.max()}')
    print(f'ratings per item: min {per_item.min()}, median {per_item.median():.0f}, '
          f'max {per_item.max()}')
    print(f'mean rating {data.rating.mean():.3f}, standard deviation {data.rating.std():.3f}')
    '''),
    md('''
    The histogram of the ratings shows how they spread over the five values: most ratings
    are 3 or 4 stars, and 1 star is the least common.
    '''),
    code('''
    d2l.plt.hist(data['rating'], bins=5, ec='black')
    d2l.plt.xlabel('Rating')
    d2l.plt.ylabel('Count')
    d2l.plt.title('Distribution of Ratings in MovieLens 100K')
    d2l.plt.show()
    '''),
    md('''
    ## Splitting the data set

    `split_data_ml100k` divides the ratings into a training and a test set in one of two ways.
    With `split_mode='random'` every rating independently lands in the test set with
    probability `test_ratio` (10% by default) and in the training set otherwise; the draws
    come from MXNet's random generator, so `mx.random.seed` makes the split repeatable. With
    `split_mode='seq-aware'` time matters: each user's most recent rating is held out for
    testing and all earlier ones are kept for training, ordered from oldest to newest, which is
    the setting of the sequence-aware recommenders later in the chapter.

    A real study would also keep a validation set for choosing hyper-parameters; like the book,
    we skip it for brevity, so the test set plays both roles here.
    '''),
    src('d2l_recsys.data:split_data_ml100k'),
    code('''
    mx.random.seed(SEED)
    # xp=np: the book's np, MXNet's, whose generator the book's split draws from
    train_random, test_random = split_data_ml100k(data, num_users, num_items, 'random', xp=np)
    print(f'random split: {len(train_random)} training and {len(test_random)} test ratings')
    train_seq, test_seq = split_data_ml100k(data, num_users, num_items, 'seq-aware', xp=np)
    print(f'seq-aware split: {len(train_seq)} training and {len(test_seq)} test ratings')
    test_seq.head(3)
    '''),
    md('''
    The seq-aware test set has exactly one rating per user (943 of them) and the training set
    the other 99,057, whereas the random test set holds about 10,000 ratings. When a user's
    latest timestamp is shared by several ratings, the book's loop keeps the first of them in
    file order as the test rating (a later row replaces it only if it is strictly newer).

    The book's seq-aware branch checks every training row against the list of test rows, which
    takes a while on 100,000 rows. The package keeps that function as it is and puts a
    vectorised twin, `split_data_ml100k_fast`, beside it; the two give identical frames (and
    the same random draws in random mode), as this cell checks.
    '''),
    code('''
    from d2l_recsys.mxnet.data import split_data_ml100k_fast

    fast_train, fast_test = split_data_ml100k_fast(data, num_users, num_items, 'seq-aware')
    print('identical seq-aware split:',
          fast_train.equals(train_seq) and fast_test.equals(test_seq))
    '''),
    md('''
    ## Loading the data

    Models want indices rather than `DataFrame` rows. `load_data_ml100k` walks over a split and
    returns three parallel lists (user index, item index, rating; indices start at 0, that is,
    MovieLens id minus one) and an interaction structure: with `feedback='explicit'` an
    `(items x users)` MXNet array holding the ratings and zeros elsewhere, with
    `feedback='implicit'` a dictionary from each user to the items they interacted with.
    '''),
    src('d2l_recsys.data:load_data_ml100k'),
    code('''
    users, items, scores, inter = load_data_ml100k(test_random, num_users, num_items, xp=np)
    print(f'{len(users)} test ratings; first three: users {users[:3]}, '
          f'items {items[:3]}, ratings {scores[:3]}')
    print(f'interaction matrix: shape {inter.shape}, {int((inter > 0).sum())} ratings in it')
    '''),
    md('''
    `split_and_load_ml100k` puts the three steps together and wraps the index lists in Gluon
    `ArrayDataset`s and `DataLoader`s. The training loader shuffles and uses
    `last_batch='rollover'`: an incomplete final batch is not dropped but carried over into the
    next epoch. The package's version adds two keyword arguments, `data_dir` (where `u.data`
    is) and `fast` (use the vectorised twins, which give identical loaders).
    '''),
    src('d2l_recsys.mxnet.data:split_and_load_ml100k'),
    code('''
    num_users, num_items, train_iter, test_iter = split_and_load_ml100k(
        split_mode='seq-aware', batch_size=512)
    u, i, r = next(iter(train_iter))
    print(f'{len(train_iter)} training batches; a batch holds {u.shape[0]} (user, item, rating) '
          f'triples, e.g. {u[:3]}, {i[:3]}, {r[:3]}')
    print(f'{len(test_iter)} test batches')
    '''),
    md('''
    ## Summary

    * MovieLens 100K holds 100,000 ratings (1 to 5 stars) by 943 users of 1,682 films; the
      user-by-film rating matrix is about 93.7% empty.
    * The package finds or fetches the data (`d2l_recsys.fetch`) and reads it with validation.
    * Two splits: random (10% of the ratings, uniformly) and seq-aware (each user's latest
      rating); both feed index lists and data loaders that the next notebooks train on.

    ## Exercises

    1. Which other public data sets of ratings or clicks can you find, and how do their size
       and sparsity compare with MovieLens 100K?
    2. Browse https://movielens.org/ and the GroupLens page of the data sets: what do the
       larger releases (1M, 20M, 25M) add besides more ratings?
    3. Plot the number of ratings per user and per film on a log scale. What does the long
       tail mean for a model that learns one vector per film?
    4. In the seq-aware split, how many users have several ratings with the same latest
       timestamp? Would holding out all of them change the test set much?
    '''),
    *record('''
    from d2l_recsys.records import write_record

    write_record('movielens', num_users=num_users, num_items=num_items, num_ratings=len(data),
                 sparsity=sparsity, rating_counts=data['rating'].value_counts().to_dict())
    '''),
]

# --------------------------------------------------------------------------- mf
MF_NB = [
    md('''
    # Matrix factorization

    *Companion to the section "Matrix Factorization" of the recommender-systems chapter of Dive
    into Deep Learning; the code is the package `d2l_recsys`, shown cell by cell.*

    Matrix factorization became the workhorse of rating prediction during the Netflix Prize
    (2006-2009), a public contest with a one-million-dollar reward for beating Netflix's own
    predictor by 10%. Simon Funk's widely read blog post of 2006 described how to learn the
    factors with gradient descent, and factorization models were a central ingredient of the
    blend that eventually won. This notebook builds the model, measures it with RMSE, trains
    it on MovieLens 100K and uses it to predict a rating.

    Set `D2L_RECSYS_SHORT=1` in the environment to train for 2 epochs instead of 20.
    '''),
    md(r'''
    ## The model

    Write the ratings as a matrix $\mathbf{R} \in \mathbb{R}^{m \times n}$ with one row per
    user ($m$ users) and one column per item ($n$ items), most of whose entries are unknown.
    Matrix factorization explains it with two thin matrices: user factors
    $\mathbf{P} \in \mathbb{R}^{m \times k}$ and item factors
    $\mathbf{Q} \in \mathbb{R}^{n \times k}$, with $k$ much smaller than $m$ and $n$. Row
    $\mathbf{p}_u$ says how much user $u$ cares about each of $k$ latent traits, row
    $\mathbf{q}_i$ how strongly item $i$ has them; the traits are learned, and may or may not
    line up with anything nameable such as a genre.

    The product $\mathbf{P}\mathbf{Q}^\top$ alone cannot express that some people rate
    everything generously or that some films are rated low by nearly everyone, so a bias per
    user and per item is added. The predicted rating of item $i$ by user $u$ is

    $$\hat{R}_{ui} = \mathbf{p}_u \mathbf{q}_i^\top + b_u + b_i .$$

    Training minimises the squared error on the known ratings $\mathcal{K}$ plus an $L_2$
    penalty with weight $\lambda$:

    $$\min_{\mathbf{P}, \mathbf{Q}, b} \sum_{(u, i) \in \mathcal{K}}
      \left(R_{ui} - \hat{R}_{ui}\right)^2
      + \lambda \left(\|\mathbf{P}\|_F^2 + \|\mathbf{Q}\|_F^2 + b_u^2 + b_i^2\right).$$

    Any gradient method will do; like the book we use Adam, and the penalty becomes the
    optimizer's weight decay.
    '''),
    code(SETUP),
    md('''
    ## Implementing the model

    Both factor matrices and both bias vectors are `nn.Embedding` layers: an embedding maps an
    integer index to a learned row, which is exactly "look up $\\mathbf{p}_u$". The factor
    embeddings have `num_factors` columns ($k$), the bias embeddings one. `forward` takes a
    batch of user indices and a batch of item indices and returns one predicted rating per pair.
    '''),
    src('d2l_recsys.mxnet.models:MF'),
    md(r'''
    ## Evaluation measure

    The usual yardstick for rating prediction is the root-mean-square error over a set
    $\mathcal{T}$ of held-out (user, item) pairs:

    $$\mathrm{RMSE} = \sqrt{\frac{1}{|\mathcal{T}|} \sum_{(u, i) \in \mathcal{T}}
      \left(R_{ui} - \hat{R}_{ui}\right)^2}.$$

    The book's evaluator feeds the test batches through the network (split over the devices)
    and updates MXNet's `RMSE` metric. Note what it returns: after each batch it records the
    metric's *running* value and at the end it averages those values. That is not quite the
    RMSE of the test set (the first batches count more often than the last). We keep it, since
    it is the number the book prints and plots, and report the exact RMSE beside it
    (`rmse_exact` in the package).
    '''),
    src('d2l_recsys.mxnet.evaluation:evaluator'),
    md('''
    ## Training and evaluating the model

    The training loop is shared with AutoRec. For every batch it splits the inputs over the
    devices with `split_and_load`, computes the $L_2$ loss on each device under
    `autograd.record()`, back-propagates, and lets the `Trainer` take a step, which sums the
    gradients of all devices. After each epoch it evaluates on the test set and adds a point to
    the curve, and at the end it prints the book's two lines: a training-loss figure and the
    last test RMSE, and the throughput.

    The package's version is the book's loop with a few additions, all keyword-only: a device
    default that falls back to the CPU, a plot that is live in Jupyter and silent in scripts, a
    progress line per epoch outside Jupyter, an optional figure file, and a returned history of
    the curve. The printed "train loss" keeps the book's accounting, which divides a sum of
    running sums by the number of examples; `history['train_loss']` holds the per-epoch values
    that are plotted.
    '''),
    src('d2l_recsys.mxnet.training:train_recsys_rating'),
    md('''
    Now the book's experiment: the seq-aware split with 10% test ratio, batches of 512, 30
    latent factors initialised from $\\mathcal{N}(0, 0.01^2)$, Adam with learning rate 0.002
    and weight decay $10^{-5}$, 20 epochs. `try_all_gpus()` returns all GPUs when there are
    any and the CPU otherwise (the book's `d2l.try_all_gpus()` returns an empty list on a
    machine without GPU). The data functions come from the package, as they come from `d2l` in
    the book; the MovieLens notebook shows them.
    '''),
    code('''
    devices = try_all_gpus()
    set_seed(SEED)
    num_users, num_items, train_iter, test_iter = split_and_load_ml100k(
        test_ratio=0.1, batch_size=512)
    net = MF(30, num_users, num_items)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    lr, num_epochs, wd, optimizer = 0.002, 20, 1e-5, 'adam'
    if SHORT:
        num_epochs = 2
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            {"learning_rate": lr, 'wd': wd})
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                                  devices, evaluator)
    '''),
    md('''
    The test RMSE above is the book's averaged running value. The RMSE over all 943 test
    ratings, one per user, is computed here:
    '''),
    code('''
    print(f"book's evaluator: {history['test_rmse'][-1]:.3f}, "
          f'exact test RMSE: {rmse_exact(net, test_iter, devices):.3f}')
    '''),
    md('''
    On a CPU the book's settings give a test RMSE of about 1.05 on this split (see
    `results/rmse.md` after `make reproduce`). Predicting each user's *latest* rating is harder
    than predicting a random tenth of the ratings: the training data holds nothing from after
    that moment, and tastes drift. The AutoRec notebook and the apples-to-apples table of
    `make reproduce` compare the models on both splits.

    ## Predicting a rating

    A trained model scores any pair, including the many pairs nobody rated. Here is the rating
    user index 20 is predicted to give to item index 30 (indices start at 0, so these are
    MovieLens user 21 and film 31):
    '''),
    code('''
    scores = net(np.array([20], dtype='int', ctx=devices[0]),
                 np.array([30], dtype='int', ctx=devices[0]))
    scores
    '''),
    code('''
    titles = read_item_titles()
    print(f'user 21 is predicted to rate {titles.get(31, "film 31")!r} '
          f'{float(scores[0]):.2f} stars')
    '''),
    md('''
    ## Summary

    * Matrix factorization predicts a rating as the dot product of a user vector and an item
      vector plus two biases; all four are embeddings learned by minimising the squared error
      with weight decay.
    * The book's evaluator reports an average of running RMSEs; the exact test RMSE is shown
      beside it.
    * One training loop serves every rating model of the chapter, on one device or several.

    ## Exercises

    1. Change the number of latent factors (try 5, 10, 50, 100). How do the test RMSE and the
       training time change?
    2. Try other optimizers (`sgd`, `rmsprop`), learning rates and weight decays. Which setting
       gives the lowest test RMSE, and does it still win on the random split?
    3. Pick a film and predict its rating for several users. Do the predictions follow the
       users' biases $b_u$?
    4. The evaluator's running mean and the exact RMSE differ. Work out when they coincide
       (think about the number and sizes of the test batches).
    '''),
    *record('''
    from d2l_recsys.records import write_record

    write_record('mf', history=history, test_rmse_exact=rmse_exact(net, test_iter, devices),
                 prediction_user20_item30=float(scores[0]))
    '''),
]

# --------------------------------------------------------------------------- autorec
AUTOREC_NB = [
    md('''
    # AutoRec: rating prediction with an autoencoder

    *Companion to the section "AutoRec: Rating Prediction with Autoencoders" of the
    recommender-systems chapter of Dive into Deep Learning; the code is the package
    `d2l_recsys`, shown cell by cell.*

    A matrix factorization model predicts a rating with a dot product plus biases: a linear
    function of the learned factors. AutoRec (Sedhain et al., 2015) replaces it with a small
    neural network so that the prediction can depend on the observed ratings non-linearly. It
    is built like an autoencoder: the input is one item's column of the rating matrix (every
    user's rating of it, zero where unknown), a narrow hidden layer encodes it, and the output
    layer reconstructs the full column. There are no user or item embeddings; the rating
    vector itself is the item's representation.

    What sets it apart from a plain autoencoder is the goal. The hidden code is not the point;
    the reconstruction is. Trained on the observed entries only, the network fills in the
    unknown ones, and those filled-in values are the predictions.

    The model comes in two flavours: *item-based* (one item's ratings in, the book's choice and
    the default here) and *user-based* (one user's ratings of all items in). Both are covered
    below.

    Set `D2L_RECSYS_SHORT=1` in the environment to train for 2 epochs instead of 25.
    '''),
    md(r'''
    ## The model

    Let $\mathbf{R}_{*i} \in \mathbb{R}^{m}$ be column $i$ of the rating matrix, the ratings of
    item $i$ by all $m$ users with zeros for the missing ones. AutoRec computes

    $$h(\mathbf{R}_{*i}) = f\left(\mathbf{W} \cdot g(\mathbf{V} \mathbf{R}_{*i} + \mu) + b\right),$$

    where $\mathbf{V}$, $\mu$ are the encoder's weights and bias, $\mathbf{W}$, $b$ the
    decoder's, and $g$, $f$ their activation functions (here a sigmoid and the identity). The
    output is the reconstructed column. Training minimises

    $$\min_{\mathbf{W}, \mathbf{V}, \mu, b} \sum_{i=1}^{n}
      \left\| \mathbf{R}_{*i} - h(\mathbf{R}_{*i}) \right\|_{\mathcal{O}}^2
      + \lambda \left(\|\mathbf{W}\|_F^2 + \|\mathbf{V}\|_F^2\right),$$

    where $\|\cdot\|_{\mathcal{O}}$ sums over the observed ratings only: a missing rating is
    not a zero-star rating, so the network must not be pushed towards zero there, and only
    the weights connected to observed entries receive gradients.
    '''),
    code(SETUP),
    md('''
    ## Implementing the model

    Two dense layers: the encoder maps the `num_users` ratings to `num_hidden` units with a
    sigmoid, the decoder maps them back to `num_users` outputs without activation, and dropout
    after the encoder fights over-fitting.

    The masking of the objective happens in `forward`. While training
    (`autograd.is_training()`), the output is multiplied by `np.sign(input)`, which is 1 where a
    rating was observed and 0 elsewhere. The loss then sees zero error at the missing entries,
    and no gradient flows from them. At prediction time the full reconstruction is returned.

    The package's class has the book's layers and `forward`, plus keyword-only extras for the
    exercises at the end (more hidden layers, other activations); their defaults give the
    book's model.
    '''),
    src('d2l_recsys.mxnet.models:AutoRec'),
    md('''
    ## Reimplementing the evaluator

    The MF evaluator took (user, item, rating) triples; AutoRec works on whole columns, so it
    needs its own. It reconstructs every item from the *training* matrix (the iterator passed
    in walks over its rows in order), then compares the reconstruction with the test matrix at
    the positions where the test set has a rating. Unlike the MF evaluator, this is exactly the
    RMSE over the test ratings. In the package the function is called `autorec_evaluator`, as
    it shares a module with the MF evaluator; here it keeps the book's name.
    '''),
    src('d2l_recsys.mxnet.evaluation:autorec_evaluator', as_name='evaluator'),
    md('''
    ## Training and evaluating the model

    The book's experiment: the random split (10% test), item-based AutoRec with 500 hidden
    units, weights from $\\mathcal{N}(0, 0.01^2)$, Adam with learning rate 0.002 and weight
    decay $10^{-5}$, batches of 256 item rows, 25 epochs. The training loader yields rows of the
    training interaction matrix; the "test iterator" yields the same rows in order, for the
    evaluator, and the test matrix goes in through the `inter_mat` keyword, which the shared
    training loop (shown in the MF notebook) hands to the evaluator.

    The data functions are the package's, as they are `d2l`'s in the book. We use the
    vectorised `load_data_ml100k_fast`, which returns the same lists and matrix as the book's
    `load_data_ml100k` (see the MovieLens notebook) without assigning 100,000 matrix entries
    one at a time. The book's loaders ask for `d2l.get_dataloader_workers()` worker processes;
    slicing a matrix that is already in memory gains nothing from them, so we use none (the
    batches are the same).
    '''),
    code('''
    devices = try_all_gpus()
    set_seed(SEED)
    # Load the MovieLens 100K dataset
    df, num_users, num_items = read_data_ml100k()
    train_data, test_data = split_data_ml100k(df, num_users, num_items)
    _, _, _, train_inter_mat = load_data_ml100k_fast(train_data, num_users,
                                                     num_items)
    _, _, _, test_inter_mat = load_data_ml100k_fast(test_data, num_users,
                                                    num_items)
    train_iter = gluon.data.DataLoader(train_inter_mat, shuffle=True,
                                       last_batch="rollover", batch_size=256)
    test_iter = gluon.data.DataLoader(np.array(train_inter_mat), shuffle=False,
                                      last_batch="keep", batch_size=1024)
    # Model initialization, training, and evaluation
    net = AutoRec(500, num_users)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    lr, num_epochs, wd, optimizer = 0.002, 25, 1e-5, 'adam'
    if SHORT:
        num_epochs = 2
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            {"learning_rate": lr, 'wd': wd})
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                                  devices, evaluator, inter_mat=test_inter_mat)
    '''),
    md('''
    The book reports a test RMSE of 0.898 for this setting, and on a CPU we get 0.88 to 0.90
    depending on the seed (`results/rmse.md` after `make reproduce` lists five seeds). That is
    well below matrix factorization's 1.05, but the book measures MF on the seq-aware split and
    AutoRec on the random one, and the seq-aware test set is the harder of the two. The
    apples-to-apples table of `make reproduce` trains both models on both splits: on the
    random split MF reaches about 0.91, so AutoRec does win, by a much smaller margin than the
    two printed numbers suggest.

    The printed "train loss" is the book's accounting, a sum of running sums divided by the
    number of rows, and the L2 loss of a row is averaged over all its 943 entries, most of
    them masked to zero; that is why it comes out tiny. The plotted per-epoch values are in
    `history['train_loss']`.

    ## A prediction

    The reconstruction of an item's column holds a predicted rating for every user. To get the
    rating user index 20 might give to item index 30, reconstruct item 30 from its training
    ratings and read entry 20:
    '''),
    code('''
    row = train_inter_mat[30:31].as_in_context(devices[0])
    print(f'predicted rating of item 30 by user 20: {float(net(row)[0, 20]):.2f}')
    '''),
    md('''
    ## The user-based variant

    The paper also describes a user-based AutoRec: the input is a user's ratings of all
    items, a row of the user-by-item matrix, and the output reconstructs that row. Nothing in
    the class changes except the input length, which becomes the number of items; the
    interaction matrices are simply transposed. The paper reports the item-based model as the
    more accurate of the two, and so it is here: with the book's settings the user-based model
    ends near 1.00, against about 0.90 for the item-based one (`results/rmse.md` after
    `make reproduce`). Same seed, hence the same split as above, then the matrices transposed:
    '''),
    code('''
    set_seed(SEED)
    train_data, test_data = split_data_ml100k(df, num_users, num_items)
    _, _, _, train_inter_mat = load_data_ml100k_fast(train_data, num_users,
                                                     num_items)
    _, _, _, test_inter_mat = load_data_ml100k_fast(test_data, num_users,
                                                    num_items)
    user_train_iter = gluon.data.DataLoader(train_inter_mat.T, shuffle=True,
                                            last_batch="rollover", batch_size=256)
    user_test_iter = gluon.data.DataLoader(np.array(train_inter_mat.T), shuffle=False,
                                           last_batch="keep", batch_size=1024)
    user_net = AutoRec(500, num_items)
    user_net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    user_trainer = gluon.Trainer(user_net.collect_params(), optimizer,
                                 {"learning_rate": lr, 'wd': wd})
    user_history = train_recsys_rating(user_net, user_train_iter, user_test_iter, loss,
                                       user_trainer, num_epochs, devices, evaluator,
                                       inter_mat=test_inter_mat.T)
    '''),
    md('''
    `d2l_recsys.mxnet.train_autorec(user_based=True)` and the command line
    (`python -m d2l_recsys train autorec --user-based`) run the same experiment.

    ## Summary

    * AutoRec reconstructs a column (item-based) or a row (user-based) of the rating matrix
      with a one-hidden-layer autoencoder; the reconstruction fills in the missing ratings.
    * Masking the output with the sign of the input restricts the loss, and the gradients, to
      the observed ratings.
    * Its evaluator is exactly the test-set RMSE. On the random split AutoRec reaches about
      0.89 to 0.90.

    ## Exercises

    1. Vary the number of hidden units (say 100, 200, 500, 1000). How do the test RMSE and the
       time per epoch respond? (`AutoRec(num_hidden, num_users)`.)
    2. Add hidden layers, e.g. `AutoRec(500, num_users, hidden_layers=(250,))`. Does depth
       help on a data set this small?
    3. Try other activations for the encoder and the decoder (`encoder_activation=`,
       `decoder_activation=`: `'relu'`, `'tanh'`, `'sigmoid'`, ...). Which combination works
       best, and why might an unbounded decoder be a good idea for ratings from 1 to 5?
    4. Train item-based AutoRec on the seq-aware split and compare it with matrix
       factorization there. Does the ranking of the two models change?
    '''),
    *record('''
    from d2l_recsys.mxnet import autorec_rmse_exact
    from d2l_recsys.records import write_record

    write_record('autorec', history=history,
                 test_rmse_exact=autorec_rmse_exact(net, test_iter, test_inter_mat, devices),
                 user_history=user_history,
                 user_test_rmse_exact=autorec_rmse_exact(user_net, user_test_iter,
                                                         test_inter_mat.T, devices),
                 test_size=int((test_inter_mat > 0).sum()))
    '''),
]

NOTEBOOKS = {
    'movielens.ipynb': MOVIELENS,
    'mf.ipynb': MF_NB,
    'autorec.ipynb': AUTOREC_NB,
}

# Names the notebooks' own cells use from the package (beyond what SETUP imports and what the
# source cells define). Checked: each must exist in the named module.
USES = {
    'movielens.ipynb': {},
    'mf.ipynb': {
        'd2l_recsys.mxnet.data': ['split_and_load_ml100k'],
        'd2l_recsys.mxnet.evaluation': ['rmse_exact'],
        'd2l_recsys.mxnet.experiments': ['set_seed'],
        'd2l_recsys.fetch': ['read_item_titles'],
        'd2l_recsys.mxnet.training': ['try_all_gpus'],
    },
    'autorec.ipynb': {
        'd2l_recsys.mxnet.data': ['read_data_ml100k', 'split_data_ml100k',
                                  'load_data_ml100k_fast'],
        'd2l_recsys.mxnet.experiments': ['set_seed'],
        'd2l_recsys.mxnet.training': ['try_all_gpus', 'train_recsys_rating'],
    },
}


def resolve(target):
    """The package object named by 'module:name'."""
    module_name, _, name = target.partition(':')
    module = importlib.import_module(module_name)
    return module, getattr(module, name)


def package_source(target, as_name=None):
    """Source text of ``target`` as a notebook shows it: dedented, the def/class renamed to
    ``as_name`` when given (only the name in its own header changes)."""
    _, obj = resolve(target)
    text = textwrap.dedent(inspect.getsource(obj)).rstrip('\n')
    if as_name:
        name = target.partition(':')[2]
        tree = ast.parse(text)
        node = tree.body[0]
        line = text.splitlines()[node.lineno - 1]
        kw = 'class ' if isinstance(node, ast.ClassDef) else 'def '
        head = kw + name
        if head not in line:
            raise ValueError(f'cannot find {head!r} in the first line of {target}')
        lines = text.splitlines()
        lines[node.lineno - 1] = line.replace(head, kw + as_name, 1)
        text = '\n'.join(lines)
    return text


def _free_names(text):
    """Names a def/class source reads that it does not bind itself (approximate: any name
    bound anywhere inside counts as local, which can only make the list shorter)."""
    tree = ast.parse(text)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split('.')[0] for a in node.names)
    top = tree.body[0]
    bound.discard(top.name)
    if isinstance(top, ast.ClassDef):   # super(ClassName, self) reads the class itself
        loaded.discard(top.name)
    return sorted(loaded - bound - set(dir(builtins)))


def _import_line(name, value, module):
    """An import statement that binds ``name`` to ``value`` (taken from ``module``)."""
    if inspect.ismodule(value):
        full = value.__name__
        if full == name:
            return f'import {full}'
        if '.' in full and full.rsplit('.', 1)[1] == name:
            return f'from {full.rsplit(".", 1)[0]} import {name}'
        return f'import {full} as {name}'
    home = getattr(value, '__module__', None)
    if home and getattr(sys.modules.get(home), name, None) is value:
        return f'from {home} import {name}'
    return f'from {module.__name__} import {name}'


def helper_imports(spec, nb_name):
    """Import lines the notebook needs besides SETUP so that its source cells and own cells
    find every name bound to the same object as in the package; raises on a clash."""
    namespace = {}
    exec(compile(SETUP, '<setup>', 'exec'), namespace)
    defined, lines = set(), []
    for module_name, names in USES.get(nb_name, {}).items():
        module = importlib.import_module(module_name)
        for name in names:
            if not hasattr(module, name):
                raise AttributeError(f'{nb_name} uses {module_name}.{name}, which is missing')
            line = f'from {module_name} import {name}'
            if line not in lines:
                lines.append(line)
            namespace.setdefault(name, getattr(module, name))
    for kind, target, as_name in spec:
        if kind != 'source':
            continue
        module, obj = resolve(target)
        text = package_source(target, as_name)
        if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(text))):
            # A function-level ``from .fetch import x`` resolves against the globals'
            # __package__; in a notebook that is the kernel's namespace.
            line = (f"__package__ = {module.__package__!r}  # for the package code's "
                    "relative imports ('from .x import y')")
            if line not in lines:
                lines.insert(0, line)
        for name in _free_names(text):
            if name in defined:
                continue
            if name not in vars(module):
                raise NameError(f'{target} reads {name!r}, which its module does not define')
            value = vars(module)[name]
            if name in namespace:
                if namespace[name] is not value:
                    raise ValueError(f'{target} uses {name!r} = {value!r} but the notebook '
                                     f'binds it to {namespace[name]!r}')
                continue
            line = _import_line(name, value, module)
            if line not in lines:
                lines.append(line)
            namespace[name] = value
        defined.add(as_name or target.partition(':')[2])
    return lines


def _group(lines):
    """Merge ``from m import a`` lines per module (first-seen order), wrapped at 95 chars."""
    merged, order = {}, []
    for line in lines:
        m = re.match(r'from (\S+) import (\S+)$', line)
        key = m.group(1) if m else line
        if key not in merged:
            merged[key] = []
            order.append(key)
        if m:
            merged[key].append(m.group(2))
    out = []
    for key in sorted(order, key=lambda k: bool(merged[k])):   # plain imports first
        if not merged[key]:
            out.append(key)
            continue
        text = f'from {key} import ' + ', '.join(merged[key])
        if len(text) > 95:
            text = textwrap.fill(', '.join(merged[key]), 95,
                                 initial_indent=f'from {key} import (',
                                 subsequent_indent=' ' * (len(key) + 14)) + ')'
        out.append(text)
    return out


def _cell_id(nb_name, index):
    return f'{nb_name.split(".")[0]}-{index:02d}'


def build(nb_name, spec):
    """The notebook ``nb_name`` as a JSON-ready dict (nbformat 4.5, no outputs)."""
    extra = helper_imports(spec, nb_name)
    cells = []
    for index, (kind, payload, as_name) in enumerate(spec):
        cell_id = _cell_id(nb_name, index)
        if kind == 'markdown':
            cells.append({'cell_type': 'markdown', 'id': cell_id, 'metadata': {},
                          'source': payload})
            continue
        metadata = {}
        if kind == 'source':
            text = package_source(payload, as_name)
            metadata[META_KEY] = {'source': payload,
                                  'as': as_name or payload.partition(':')[2]}
        else:
            text = payload
            if text == SETUP and extra:
                text += ('\n\n# From the package: what the code below shows or calls.\n'
                         + '\n'.join(_group(extra)))
        cells.append({'cell_type': 'code', 'execution_count': None, 'id': cell_id,
                      'metadata': metadata, 'outputs': [], 'source': text})
    for cell in cells:   # nbformat stores sources as lists of lines
        cell['source'] = cell['source'].splitlines(keepends=True)
    return {
        'cells': cells,
        'metadata': {
            'kernelspec': {'display_name': 'Python 3 (ipykernel)', 'language': 'python',
                           'name': 'python3'},
            'language_info': {'name': 'python'},
        },
        'nbformat': 4,
        'nbformat_minor': 5,
    }


def dumps(notebook):
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + '\n'


def write_atomic(path, text):
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='do not write; exit 1 if a notebook differs from what would be '
                             'generated')
    parser.add_argument('--out', default=NOTEBOOK_DIR, help='folder (default: notebooks/)')
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    stale = []
    for nb_name, spec in NOTEBOOKS.items():
        text = dumps(build(nb_name, spec))
        path = os.path.join(args.out, nb_name)
        if args.check:
            try:
                with open(path, encoding='utf-8') as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(path)
        else:
            write_atomic(path, text)
            print(f'wrote {os.path.relpath(path)}')
    if stale:
        print('out of date (run python tools/build_notebooks.py): ' + ', '.join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
