"""nonfinite_origin: the birthplace of a step's first NaN/Inf, named once, with the fix for that place."""

from tb_lossdiag.detectors.nonfinite_origin import NonfiniteOrigin
from tb_lossdiag.stats import NonfiniteOrigin as Origin, StepStats


def _step(step, origin=None):
    return StepStats(step=step, sampled=False, origin=origin)


def test_a_module_origin_is_named_once_with_its_fix():
    detector = NonfiniteOrigin()
    origin = Origin("module", "encoder.fc2", "Linear; its input was finite")
    assert detector.on_step(_step(7)) == ()
    (event,) = detector.on_step(_step(8, origin))
    assert event.message == ("NaN/Inf first appeared in the output of 'encoder.fc2' (Linear; its input "
                             "was finite) at step 8")
    assert event.severity == "error" and event.tag == "module encoder.fc2"
    assert event.evidence == {"module": 1.0} and "eps" in event.hint
    assert detector.on_step(_step(9, origin)) == ()


def test_each_place_gets_its_own_words_and_fix():
    detector = NonfiniteOrigin()
    events = [detector.on_step(_step(3, origin))[0] for origin in (
        Origin("input", "x", "2 NaN/Inf of 64 values; rows 3, 5 of 8; columns 2"),
        Origin("loss", "cross_entropy", "the model's output was finite, the loss was not"),
        Origin("backward", "", "Net; by its own code (no submodule); the gradient at its output was finite"),
    )]
    assert events[0].message.endswith("argument 'x', 2 NaN/Inf of 64 values; rows 3, 5 of 8; columns 2")
    assert "dropna" in events[0].hint and events[0].evidence == {"input": 1.0}
    assert "loss (cross_entropy)" in events[1].message and "mask.sum().clamp" in events[1].hint
    assert "backward pass of the model itself" in events[2].message and "sqrt" in events[2].hint
