"""shape_inconsistency: a tensor field with several shapes across Dataset items."""

from data_observations import observe
from tb_lossdiag.detectors._data import ShapeChanges
from tb_lossdiag.detectors.shape_inconsistency import ShapeInconsistency


def test_two_shapes_fire():
    """(3,) in 9 items and (2,) in item 7: default_collate cannot stack them."""
    shapes = {"(3,)": [0, 1, 2, 3, 4, 5, 6, 8, 9], "(2,)": [7]}
    (event,) = ShapeInconsistency().on_data(observe(ShapeChanges, shapes=shapes, sampled="the 10 items"))
    assert "has 2 shapes across the 10 items: (3,) in 9 items, (2,) in 1 (item 7)" in event.message
    assert "pad_sequence" in event.hint


def test_one_shape_is_quiet():
    assert ShapeInconsistency().on_data(observe(ShapeChanges, shapes={"(3,)": [0, 1]}, sampled="the 2 items")) == ()
