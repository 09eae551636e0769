"""dtype_inconsistency: numbers stored as text, a field that changes type, float64 beside float32."""

from data_observations import observe
from tb_lossdiag.detectors._data import FloatField, TextColumn, TypeChanges
from tb_lossdiag.detectors.dtype_inconsistency import DtypeInconsistency


def _text(numbers, texts=10):
    return observe(TextColumn, rows=texts, blanks=0, texts=texts, numbers=numbers, strays=texts - numbers,
                   stray_examples=("?",))


def test_text_column_of_numbers_fires_from_half_of_its_values():
    """5 numbers of 10 values make a numeric column (the default numeric_text 0.5); 4 do not."""
    (event,) = DtypeInconsistency().on_data(_text(5))
    assert "5 of 10 values are not numbers ('?')" in event.message and "na_values=['?']" in event.hint
    assert DtypeInconsistency().on_data(_text(4)) == ()
    assert DtypeInconsistency(numeric_text=0.6).on_data(_text(5)) == ()


def test_field_of_two_types_fires_one_type_is_quiet():
    """int in 7 items and float in 3: the largest group first, the others with their items."""
    changes = observe(TypeChanges, types={"float": [1, 4, 8], "int": [0, 2, 3, 5, 6, 7, 9]},
                      sampled="the 10 items", is_label=True)
    (event,) = DtypeInconsistency().on_data(changes)
    assert "int in 7 items, float in 3 (items 1, 4, 8)" in event.message and "torch.long" in event.hint
    one = observe(TypeChanges, types={"int": [0, 1]}, sampled="the 2 items", is_label=True)
    assert DtypeInconsistency().on_data(one) == ()


def test_float64_input_beside_float32_fires_float64_target_is_quiet():
    """A float32 model fails on a float64 input; a float64 target is promoted by the loss."""
    (event,) = DtypeInconsistency().on_data(
        observe(FloatField, dtype="float64", is_label=False, float_dtypes=("float32", "float64"))
    )
    assert "is float64 while other fields are float32" in event.message and event.hint == "x = x.float()"
    label = observe(FloatField, dtype="float64", is_label=True, float_dtypes=("float32", "float64"))
    alone = observe(FloatField, dtype="float64", is_label=False, float_dtypes=("float64",))
    assert DtypeInconsistency().on_data(label) == () and DtypeInconsistency().on_data(alone) == ()
