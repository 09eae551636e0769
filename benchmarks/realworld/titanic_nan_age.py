"""A Titanic kernel feeding raw columns to fc1: the loss is NaN from the first step ("after big numbers")."""
# source: https://github.com/pytorch/pytorch/issues/6610
# root: nonfinite_input

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

EXPECT = ("nonfinite_input", "nonfinite_loss")
ALLOW = ("unnormalized_input", "nonfinite_activation", "nonfinite_gradient")  # Fare up to 512; the NaN flows on
ONSET = 0
STEPS = 100


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(6, 16)
        self.tanh = nn.Tanh()
        self.fc2 = nn.Linear(16, 2)

    def forward(self, x):
        x = self.tanh(self.fc1(x))
        x = self.fc2(x)
        return x


def titanic(g, n=891):
    """train.csv's numeric columns Pclass, Sex, Age, SibSp, Parch, Fare; Age is empty for 177 of 891 passengers."""
    pclass = torch.randint(1, 4, (n,), generator=g).float()
    sex = torch.randint(0, 2, (n,), generator=g).float()
    age = (torch.rand(n, generator=g) * 80).round()
    age[torch.randperm(n, generator=g)[:177]] = float("nan")
    sibsp = torch.randint(0, 5, (n,), generator=g).float()
    parch = torch.randint(0, 4, (n,), generator=g).float()
    fare = torch.rand(n, generator=g) ** 3 * 512
    survived = ((sex == 1) | (pclass == 1)).long()
    return torch.stack([pclass, sex, age, sibsp, parch, fare], 1), survived


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    train, label = titanic(torch.Generator().manual_seed(0))
    model = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for epoch in range(steps):
        out = model(train)
        loss = criterion(out, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss", loss.item(), epoch)
    writer.close()
