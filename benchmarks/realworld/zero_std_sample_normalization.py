"""Per-sample standardization in the Dataset: an all-zero sample becomes 0/0 = NaN and poisons its batch."""
# source: https://e-com-net.com/article/1305711525834559488.htm
# root: nonfinite_input

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tb_lossdiag import DiagWriter

BAD_SAMPLE, BATCH = 300, 32
EXPECT = ("nonfinite_input", "nonfinite_loss")
ALLOW = ("nonfinite_activation", "nonfinite_gradient")  # the NaN flows on through the model
ONSET = BAD_SAMPLE // BATCH  # batches are taken in order: the zero sample arrives in batch 9
STEPS = 40


class SignalDataset(Dataset):
    def __init__(self, signals, labels):
        self.signals, self.labels = signals, labels

    def __len__(self):
        return len(self.signals)

    def __getitem__(self, i):
        x = self.signals[i]
        x = (x - x.mean()) / x.std()  # an all-zero recording: std is 0
        return x, self.labels[i]


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (1024,), generator=g)
    signals = torch.randn(1024, 64, generator=g) * 5 + 20 + labels[:, None] * torch.linspace(0, 8, 64)
    signals[BAD_SAMPLE] = 0  # a dead sensor recorded nothing
    loader = DataLoader(SignalDataset(signals, labels), batch_size=BATCH, shuffle=False)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    step = 0
    while step < steps:
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            step += 1
            if step == steps:
                break
    writer.close()
