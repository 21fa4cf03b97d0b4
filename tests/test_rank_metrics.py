"""The ranking metrics from a score matrix (d2l_recsys.rank_metrics): the book's evaluator
equal to d2l's ``evaluate_ranking`` given the same scores, and the exact evaluator's ties
counted at their expectation (checked against every order of the tied items)."""
import itertools
import math

import numpy as onp
import pytest

from conftest import NO_MXNET, book_d2l, needs_d2l
from d2l_recsys import rank_metrics
from d2l_recsys.rank_metrics import book_hit_and_auc, exact_ranking_metrics


def _problem(num_users=12, num_items=30, seed=0, levels=None, held=1):
    """Scores, training items and held-out items of a small made-up ranking problem.
    ``levels``: round the scores to that many values (many ties)."""
    rng = onp.random.RandomState(seed)
    scores = rng.normal(size=(num_users, num_items)).astype(onp.float32)
    if levels:
        scores = onp.floor(rng.uniform(size=scores.shape) * levels).astype(onp.float32)
    candidates, test = {}, {}
    for u in range(num_users):
        items = rng.permutation(num_items)
        k = rng.randint(3, num_items // 2)
        candidates[u] = sorted(items[:k].tolist())
        test[u] = items[k:k + held].tolist()
    return scores, candidates, test


class ScoreNet:
    """A stand-in for a model: returns the given scores for the (user, item) pairs it is
    called with, as an MXNet array of the book's NeuMF output shape (batch, 1). With
    ``seq=True`` it takes (user, seq, item) as Caser does (and returns shape (batch,))."""
    def __init__(self, scores, seq=False):
        self.scores, self.seq = scores, seq

    def __call__(self, *args):
        from mxnet import np
        users, items = args[0].asnumpy().astype(int), args[-1].asnumpy().astype(int)
        out = self.scores[users, items]
        return np.array(out if self.seq else out.reshape(-1, 1))


@needs_d2l
@pytest.mark.skipif(NO_MXNET is not None, reason=NO_MXNET or '')
@pytest.mark.parametrize('levels, held, seq', [(None, 1, False), (3, 1, False), (2, 1, True),
                                               (4, 2, False)])
def test_book_metric_is_d2l_evaluate_ranking_on_the_same_scores(levels, held, seq):
    import mxnet as mx
    mx.npx.set_np()   # as every cell of the book does
    d2l = book_d2l()
    scores, candidates, test = _problem(levels=levels, held=held)
    num_users, num_items = scores.shape
    test_seq = mx.np.zeros((num_users, 5)) if seq else None
    hit, auc = d2l.evaluate_ranking(ScoreNet(scores, seq), test, test_seq, candidates,
                                    num_users, num_items, [mx.cpu()])
    ours_hit, ours_auc, per_user = book_hit_and_auc(scores, test, candidates, num_users)
    assert ours_hit == pytest.approx(float(hit), rel=1e-6)
    assert ours_auc == pytest.approx(float(auc), rel=1e-6)
    # Each user's hit_and_auc, from the book's own sort of the book's list.
    for u in range(num_users):
        order = list(set(range(num_users)) - set(candidates[u]))
        ranked = sorted(zip(order, scores[u, order]), key=lambda t: t[1], reverse=True)
        h, a = d2l.hit_and_auc([r[0] for r in ranked], test[u], 50)
        assert per_user['hits'][u] == h and per_user['auc'][u] == a


def test_book_metric_ranks_only_items_below_the_number_of_users():
    # 4 users, 10 items: items 4..9 are never ranked, so a held-out item 7 is a miss however
    # high it is scored, while the exact evaluator finds it first.
    scores = onp.zeros((4, 10), dtype=onp.float32)
    scores[:, 7] = 1.0
    candidates = {u: [u] for u in range(4)}
    test = {u: [7] for u in range(4)}
    hit, auc, _ = book_hit_and_auc(scores, test, candidates, 4, k=50)
    assert hit == 0 and auc == 0
    exact = exact_ranking_metrics(scores, candidates, test)
    assert exact['hr@10'] == 1 and exact['auc'] == 1 and exact['ndcg@10'] == 1


def test_book_metric_breaks_ties_by_the_lists_order():
    # Every score equal: the book's position is that of the item in its list.
    scores = onp.full((3, 3), 0.5, dtype=onp.float32)
    candidates = {0: [], 1: [1], 2: [0]}
    test = {0: [2], 1: [2], 2: [1]}
    _, _, per_user = book_hit_and_auc(scores, test, candidates, 3, k=1)
    # user 0 ranks [0, 1, 2]: item 2 third; user 1 [0, 2]: second; user 2 [1, 2]: first.
    assert per_user['hits'].tolist() == [0, 0, 1]
    assert per_user['auc'].tolist() == [0.0, 0.0, 1.0]


def _brute_force(scores_row, g, candidates, k=10):
    """HR@k, NDCG@k and AUC of item g averaged over every order of its ties (candidates:
    the item indices ranked, g among them)."""
    s = {j: float(scores_row[j]) for j in candidates}
    ahead = [j for j in candidates if s[j] > s[g]]
    tied = [j for j in candidates if s[j] == s[g]]
    behind = [j for j in candidates if s[j] < s[g]]
    hr, ndcg, auc = [], [], []
    for perm in itertools.permutations(tied):
        position = len(ahead) + perm.index(g) + 1
        hr.append(position <= k)
        ndcg.append(1 / math.log2(position + 1) if position <= k else 0)
        # AUC of this order: the share of the others ranked below g.
        auc.append((len(behind) + len(perm) - 1 - perm.index(g)) / (len(candidates) - 1))
    return onp.mean(hr), onp.mean(ndcg), onp.mean(auc)


@pytest.mark.parametrize('case', range(6))
def test_exact_metrics_are_the_expectation_over_every_order_of_the_ties(case):
    rng = onp.random.RandomState(case)
    num_items = 14
    scores = rng.randint(0, 3, (1, num_items)).astype(onp.float32)   # many ties
    trained = sorted(rng.choice(num_items, 5, replace=False).tolist())
    unseen = [j for j in range(num_items) if j not in trained]
    g = int(rng.choice(unseen))
    k = int(rng.choice([1, 3, 5]))
    hr, ndcg, auc = _brute_force(scores[0], g, unseen, k)
    out = exact_ranking_metrics(scores, {0: trained}, {0: [g]}, ks=(k,), ndcg_k=k)
    assert out[f'hr@{k}'] == pytest.approx(hr, abs=1e-12)
    assert out[f'ndcg@{k}'] == pytest.approx(ndcg, abs=1e-12)
    assert out['auc'] == pytest.approx(auc, abs=1e-12)
    assert out['candidates'] == len(unseen) and out['pairs'] == 1


def test_a_model_that_scores_every_item_alike_gets_k_over_the_candidates():
    num_users, num_items = 5, 200
    candidates = {u: list(range(u, u + 20)) for u in range(num_users)}   # 180 unseen each
    test = {u: [150 + u] for u in range(num_users)}
    out = exact_ranking_metrics(onp.full((num_users, num_items), 0.5, onp.float32),
                                candidates, test)
    assert out['hr@10'] == pytest.approx(10 / 180) and out['hr@50'] == pytest.approx(50 / 180)
    assert out['auc'] == 0.5 and out['mean_rank'] == pytest.approx(90.5)
    discount = sum(1 / math.log2(p + 1) for p in range(1, 11))
    assert out['ndcg@10'] == pytest.approx(discount / 180)


def test_a_sparse_score_vector_gets_no_credit_from_its_ties():
    # Three items scored above zero, every other item zero, the held-out item among the zeros:
    # ranked first among equals it would look like a hit; at its expected place it is not.
    num_items = 1000
    scores = onp.zeros((1, num_items), dtype=onp.float32)
    scores[0, [3, 4, 5]] = 1.0
    out = exact_ranking_metrics(scores, {0: [0, 1, 2]}, {0: [500]})
    # 997 candidates: 3 ahead, 993 tied with the held-out item.
    assert out['hr@10'] == pytest.approx(7 / 994)
    assert out['hr@50'] == pytest.approx(47 / 994)
    assert out['auc'] == pytest.approx(0.5 * 993 / 996)
    assert out['mean_rank'] == pytest.approx(4 + 993 / 2)


def test_other_held_out_items_are_not_candidates_and_nan_is_refused():
    scores = onp.array([[0.9, 0.8, 0.7, 0.1, 0.2]], dtype=onp.float32)
    out = exact_ranking_metrics(scores, {0: [0]}, {0: [1, 2]})
    # Item 1: candidates 1, 3, 4 (item 2 left out) -> first; item 2: candidates 2, 3, 4 -> first.
    assert out['hr@10'] == 1 and out['mean_rank'] == 1 and out['pairs'] == 2
    assert out['candidates'] == 3
    scores[0, 3] = onp.nan
    with pytest.raises(ValueError, match='NaN'):
        exact_ranking_metrics(scores, {0: [0]}, {0: [1]})
    with pytest.raises(ValueError, match='no held-out'):
        exact_ranking_metrics(scores[:, :3] * 0, {0: [0]}, {0: []})


def test_format_exact_names_every_metric():
    line = rank_metrics.format_exact({'hr@10': 0.1234, 'hr@50': 0.5, 'ndcg@10': 0.05,
                                      'auc': 0.75, 'mean_rank': 3.0, 'pairs': 1,
                                      'candidates': 9.0})
    assert line.endswith('HR@10 0.123, HR@50 0.500, NDCG@10 0.050, AUC 0.750')


def test_metrics_table_puts_each_runs_last_evaluation_in_a_row():
    from d2l_recsys.rank_runs import metrics_table
    exact = {'hr@10': 0.0064, 'hr@50': 0.0321, 'ndcg@10': 0.0029, 'auc': 0.5}
    book = {'epoch': [1, 2], 'eval_epoch': [1, 2], 'hit_rate': [0.1, 0.0753],
            'auc': [0.6, 0.5314], 'exact': [dict(exact, auc=0.9), exact]}
    bare = dict(book, epoch=[1, 2, 3], exact=[])
    lines = metrics_table([("the book's loop", book), ('no exact metrics', bare)]).splitlines()
    assert [line.split() for line in lines] == [
        ['run', 'epochs', '|', 'book:', 'hit@50', 'AUC', '|', 'exact:', 'HR@10', 'HR@50',
         'NDCG@10', 'AUC'],
        ['the', "book's", 'loop', '2', '|', '0.075', '0.531', '|', '0.006', '0.032', '0.003',
         '0.500'],
        ['no', 'exact', 'metrics', '3', '|', '0.075', '0.531', '|']]
    assert len({line.index('|') for line in lines}) == 1   # the columns line up
    with pytest.raises(ValueError, match="'none' has no evaluation"):
        metrics_table([('none', dict(book, eval_epoch=[]))])
