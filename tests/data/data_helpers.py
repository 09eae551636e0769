"""What the data check tests share: a check with the default detectors, user-made data."""

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from tb_lossdiag.data import prepare_check
from tb_lossdiag.diagnoser import Diagnoser


def check(data, **options):
    """The events of checking `data` with every built-in detector at its defaults."""
    return prepare_check(data, **options)(Diagnoser())


def only(events, kind):
    """The one event of `kind`, failing with every event's kind, tag and message otherwise."""
    kinds = [e.kind for e in events]
    assert kinds.count(kind) == 1, [(e.kind, e.tag, e.message) for e in events]
    return events[kinds.index(kind)]


def clean_frame(rows=300):
    """A normalized, complete DataFrame: two normal columns, a city, a boolean."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "height": rng.normal(size=rows),
        "weight": rng.normal(size=rows),
        "city": rng.choice(["paris", "oslo", "rome"], rows),
        "member": rng.random(rows) < 0.5,
    })


class Items(Dataset):
    """A map-style Dataset whose __getitem__ is `make(i)`, counting the reads."""

    def __init__(self, size, make):
        self.size, self.make, self.reads = size, make, []

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        self.reads.append(i)
        return self.make(i)
