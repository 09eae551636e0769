"""Deep-learning-activity-recognition: the CNN returns F.softmax(out) into nn.CrossEntropyLoss."""
# source: https://github.com/jindongwang/Deep-learning-activity-recognition/issues/10
# root: softmax_before_cross_entropy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import class_images

EXPECT = ("softmax_before_cross_entropy",)
ALLOW = ("loss_plateau",)  # a double softmax flattens the gradients: a slow curve is its consequence
ONSET = 0
STEPS = 150
config_info = {'batch_size': 64, 'epoch': 100, 'lr': .01, 'momemtum': .9}


class Network(nn.Module):
    def __init__(self):
        super(Network, self).__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels=9, out_channels=32, kernel_size=(1, 9)),
            # nn.BatchNorm1d()
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=(1, 2), stride=2)
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(in_channels=32, out_channels=64, kernel_size=(1, 9)),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=(1, 2), stride=2)
        )
        self.fc1 = nn.Sequential(
            nn.Linear(in_features=64 * 26, out_features=1000),
            nn.ReLU()
        )
        self.fc2 = nn.Sequential(
            nn.Linear(in_features=1000, out_features=500),
            nn.ReLU()
        )
        self.fc3 = nn.Sequential(
            nn.Linear(in_features=500, out_features=6)
        )

    def forward(self, x):
        out = self.conv1(x)
        out = self.conv2(out)
        out = out.reshape(-1, 64 * 26)
        out = self.fc1(out)
        out = self.fc2(out)
        out = self.fc3(out)
        out = F.softmax(out, dim=1)
        return out


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(10)
    x, y = class_images(2048, (9, 128), 6, noise=2.0)  # UCI HAR: 9 inertial channels x 128 samples, 6 activities
    train_loader = DataLoader(TensorDataset(x, y), batch_size=config_info['batch_size'], shuffle=True)
    model = Network()
    optimizer = optim.SGD(params=model.parameters(), lr=config_info['lr'], momentum=config_info['momemtum'])
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    step = 0
    for e in range(config_info['epoch']):
        model.train()
        for index, (sample, target) in enumerate(train_loader):
            sample, target = sample.float(), target.long()
            sample = sample.view(-1, 9, 1, 128)
            output = model(sample)
            loss = criterion(output, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            step += 1
            if step == steps:
                writer.close()
                return
