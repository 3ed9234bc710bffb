import itertools
import math

import pytest

from oracle_core.base.errors import OracleError
from oracle_core.compute.masks import Mask, count_masks, enumerate_masks, make_masks, sample_masks


@pytest.mark.parametrize("ratio,expected", [(0.2, 45), (0.3, 120), (0.4, 210), (0.5, 252), (0.6, 210), (0.7, 120),
                                            (0.8, 45)])
def test_exhaustive_counts_match_the_paper(ratio, expected):
    masks = enumerate_masks({"conv1": 10}, ratio)
    assert len(masks) == expected == count_masks({"conv1": 10}, ratio)
    assert len({m.mask_id for m in masks}) == expected


def test_exhaustive_is_itertools_order_of_kept_filters():
    masks = enumerate_masks({"conv1": 10}, 0.5)
    assert [m.as_dict()["conv1"] for m in masks] == list(itertools.combinations(range(10), 5))
    assert masks[0].text == "conv1:0,1,2,3,4"


def test_multi_layer_product():
    masks = enumerate_masks({"conv1": 4, "conv2": 4}, 0.5)
    assert len(masks) == math.comb(4, 2) ** 2
    assert masks[1].text == "conv1:0,1|conv2:0,2"


def test_sampling_is_seeded_and_without_duplicates():
    a = sample_masks({"conv1": 10, "conv2": 10}, 0.5, 300, seed=3)
    b = sample_masks({"conv1": 10, "conv2": 10}, 0.5, 300, seed=3)
    c = sample_masks({"conv1": 10, "conv2": 10}, 0.5, 300, seed=4)
    assert a == b and a != c
    assert len(set(a)) == 300
    assert all(len(m.as_dict()["conv1"]) == 5 and len(m.as_dict()["conv2"]) == 5 for m in a)


def test_sample_as_large_as_the_space_is_the_space():
    assert sample_masks({"conv1": 10}, 0.8, 1000, 0) == enumerate_masks({"conv1": 10}, 0.8)


def test_id_and_readable_form_are_stable():
    m = Mask.parse("conv1:0,2,4,6,8")
    assert m.text == "conv1:0,2,4,6,8"
    assert m.mask_id == "a333720ead0d"  # sha1 of the readable form: never changes
    assert Mask.parse(m.text) == m
    # the id is a function of the readable form only
    assert m.mask_id == Mask((("conv1", (0, 2, 4, 6, 8)),)).mask_id


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5, 0.05])
def test_bad_ratios_are_refused(ratio):
    with pytest.raises(OracleError):
        make_masks({"conv1": 10}, ratio, 0, 0)


def test_a_ratio_that_rounds_to_another_is_refused_naming_the_one_to_give():
    """int(10 * 0.55) = 5: ratio 0.55 would compute ratio 0.5's masks under a second folder."""
    from oracle_core.experiment.spec import make_spec

    with pytest.raises(OracleError, match=r"ratio 0.55 removes 5.5 of the 10 filters of conv1, rounded down to 5: "
                                          r"the same masks as ratio 0.5, so give that"):
        make_spec(layers="conv1", ratio=0.55, profile="smoke")
    assert make_spec(layers="conv1", ratio=0.3, profile="smoke").ratio == 0.3  # 10 * 0.3 = 3.0000000000000004
