"""Allosaurus fine-tuning: feature_cmvn divides by a zero per-utterance std, so one utterance's features are NaN."""
# source: https://github.com/xinjli/allosaurus/issues/64
# root: nonfinite_input

import numpy as np
import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

BAD_UTT, BATCH = 21, 4
EXPECT = ("nonfinite_input", "nonfinite_loss")
ALLOW = ("nonfinite_activation", "nonfinite_gradient")  # the NaN flows on through the BLSTM and the clipping
ONSET = BAD_UTT // BATCH  # utterances are taken in order: the silent-channel one arrives in batch 5
STEPS = 30


def feature_cmvn(feature):

    frame_cnt = feature.shape[0]
    spk_sum = np.sum(feature, axis=0)
    spk_mean = spk_sum / frame_cnt
    spk_square_sum = np.sum(feature*feature, axis=0)
    spk_std = (spk_square_sum / frame_cnt - spk_mean * spk_mean) ** 0.5

    return (feature - spk_mean)/spk_std


class AllosaurusTorchModel(nn.Module):

    def __init__(self, feat_size=120, hidden_size=32, layer_size=2, phone_size=41):
        super(AllosaurusTorchModel, self).__init__()
        # hidden 320 and 5 layers in the repo; smaller here
        self.blstm_layer = nn.LSTM(feat_size, hidden_size, num_layers=layer_size, bidirectional=True)
        self.phone_layer = nn.Linear(hidden_size*2, phone_size)

    def forward(self, input_tensor, input_lengths):
        # (B,T,H) -> (T,B,H)
        input_tensor = input_tensor.transpose(0, 1)
        total_length = input_tensor.size(0)
        pack_sequence = nn.utils.rnn.pack_padded_sequence(input_tensor, input_lengths)
        self.blstm_layer.flatten_parameters()
        hidden_pack_sequence, _ = self.blstm_layer(pack_sequence)
        output_tensor, _ = nn.utils.rnn.pad_packed_sequence(hidden_pack_sequence, total_length=total_length)
        phone_tensor = self.phone_layer(output_tensor)
        return phone_tensor.transpose(0,1)


def utterances(n, rng):
    """(windowed MFCC features [T, 120] after feature_cmvn, phone ids); one utterance has a channel that never moves."""
    data = []
    for i in range(n):
        phones = rng.integers(1, 41, size=8)
        frames = np.repeat(phones, 5)
        feature = rng.normal(size=(len(frames), 120)) + np.sin(frames[:, None] * np.arange(120) / 7.0)
        if i == BAD_UTT:
            feature[:, 0] = -10.0  # a digitally silent recording: its energy coefficient sits at the floor
        data.append((torch.tensor(feature_cmvn(feature), dtype=torch.float32), torch.tensor(phones)))
    return data


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    data = utterances(BATCH * steps, np.random.default_rng(0))
    model = AllosaurusTorchModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.CTCLoss()
    grad_clip = 5.0
    writer = DiagWriter(logdir)
    train_iter = 0
    for i in range(steps):
        sample = data[i * BATCH:(i + 1) * BATCH]
        feats = nn.utils.rnn.pad_sequence([f for f, _ in sample], batch_first=True)
        input_lengths = torch.tensor([len(f) for f, _ in sample])
        targets = torch.cat([p for _, p in sample])
        target_lengths = torch.tensor([len(p) for _, p in sample])

        optimizer.zero_grad()
        output = model(feats, input_lengths)
        loss = criterion(output.log_softmax(-1).transpose(0, 1), targets, input_lengths, target_lengths)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        writer.add_scalar('Train/Loss', loss, train_iter)
        train_iter += 1
    writer.close()
