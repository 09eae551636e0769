"""SSD trained with batch size 1 at a learning rate too high for it: MultiBoxLoss (sums over N matched boxes) overflows to NaN."""
# source: https://github.com/amdegroot/ssd.pytorch/issues/275
# root: loss_divergence unnormalized_input
# MultiBoxLoss.forward, log_sum_exp, weights_init, the optimizer and the training step are ssd.pytorch's
# (layers/modules/multibox_loss.py, layers/box_utils.py, train.py), kept as written. Stand-ins: a small
# conv base with SSD's head layout and forward (two source maps, 4 default boxes a cell, 21 VOC classes)
# instead of VGG16; a short `match` (best-overlap matching at 0.5, SSD's encode) instead of box_utils'
# jaccard/match, filling the same loc_t / conf_t; synthetic 300x300 images with VOC's means subtracted
# (SSDAugmentation does not rescale pixels) and 1-3 random boxes each. The learning rate: the issue ran
# train.py's default 1e-3 with batch size 1 on VGG16 (fixed by a smaller one); this shallow stand-in takes
# lr 3e-2 to diverge the same way within 10 steps (~17 -> 22 -> 164 -> 3e4 -> 1e12 -> NaN; the issue's
# 3 -> 20 -> 3e10 -> NaN). N, the matched count, is >= 1 on every step (each truth keeps its best prior).

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.optim as optim
from torch.autograd import Variable

from tb_lossdiag import DiagWriter

EXPECT = ("loss_divergence", "nonfinite_loss")
# What the NaN brings along: the gradients and activations of the NaN step, and the explosion before it.
ALLOW = ("nonfinite_gradient", "nonfinite_activation", "exploding_gradient")
# Added after the first run, because it is true: SSD's transform only subtracts VOC's means, so the
# net sees pixels of RMS ~75, not ~1; that scales the first layer's gradients up as a learning rate
# would (the causal rules: unnormalized inputs explain explosions), so it is a root too.
ALLOW += ("unnormalized_input",)
ONSET = 0
STEPS = 40
cfg = {'variance': [0.1, 0.2], 'num_classes': 21, 'min_dim': 300}
MEANS = (104, 117, 123)


def priors_for(feature_maps=(10, 5), sizes=(0.2, 0.45, 0.7)):
    """PriorBox's center-size default boxes: per cell, s, sqrt(s*s'), and aspect ratios 2 and 1/2, clipped."""
    boxes = []
    for k, f in enumerate(feature_maps):
        s, s_next = sizes[k], sizes[k + 1]
        for i in range(f):
            for j in range(f):
                cx, cy = (j + 0.5) / f, (i + 0.5) / f
                boxes += [[cx, cy, s, s], [cx, cy, math.sqrt(s * s_next), math.sqrt(s * s_next)],
                          [cx, cy, s * math.sqrt(2), s / math.sqrt(2)], [cx, cy, s / math.sqrt(2), s * math.sqrt(2)]]
    return torch.tensor(boxes).clamp_(max=1, min=0)


def match(threshold, truths, priors, variances, labels, loc_t, conf_t, idx):
    """Stand-in for box_utils.match: each prior takes its best-overlap truth, each truth keeps its best prior."""
    corners = torch.cat((priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2), 1)
    low = torch.max(truths[:, None, :2], corners[None, :, :2])
    high = torch.min(truths[:, None, 2:], corners[None, :, 2:])
    inter = (high - low).clamp(min=0).prod(2)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    overlaps = inter / (area(truths)[:, None] + area(corners)[None, :] - inter)
    best_truth_overlap, best_truth_idx = overlaps.max(0)
    best_prior_idx = overlaps.argmax(1)
    best_truth_overlap[best_prior_idx] = 2
    best_truth_idx[best_prior_idx] = torch.arange(len(truths))
    matched = truths[best_truth_idx]
    conf = labels[best_truth_idx].long() + 1
    conf[best_truth_overlap < threshold] = 0
    g_cxcy = ((matched[:, :2] + matched[:, 2:]) / 2 - priors[:, :2]) / (variances[0] * priors[:, 2:])
    g_wh = torch.log((matched[:, 2:] - matched[:, :2]) / priors[:, 2:]) / variances[1]
    loc_t[idx] = torch.cat([g_cxcy, g_wh], 1)
    conf_t[idx] = conf


def log_sum_exp(x):
    x_max = x.data.max()
    return torch.log(torch.sum(torch.exp(x-x_max), 1, keepdim=True)) + x_max


class MultiBoxLoss(nn.Module):
    """SSD Weighted Loss Function: L(x,c,l,g) = (Lconf(x, c) + αLloc(x,l,g)) / N, N the matched default boxes."""

    def __init__(self, num_classes, overlap_thresh, prior_for_matching,
                 bkg_label, neg_mining, neg_pos, neg_overlap, encode_target,
                 use_gpu=True):
        super(MultiBoxLoss, self).__init__()
        self.use_gpu = use_gpu
        self.num_classes = num_classes
        self.threshold = overlap_thresh
        self.background_label = bkg_label
        self.encode_target = encode_target
        self.use_prior_for_matching = prior_for_matching
        self.do_neg_mining = neg_mining
        self.negpos_ratio = neg_pos
        self.neg_overlap = neg_overlap
        self.variance = cfg['variance']

    def forward(self, predictions, targets):
        loc_data, conf_data, priors = predictions
        num = loc_data.size(0)
        priors = priors[:loc_data.size(1), :]
        num_priors = (priors.size(0))
        num_classes = self.num_classes  # noqa: F841

        # match priors (default boxes) and ground truth boxes
        loc_t = torch.Tensor(num, num_priors, 4)
        conf_t = torch.LongTensor(num, num_priors)
        for idx in range(num):
            truths = targets[idx][:, :-1].data
            labels = targets[idx][:, -1].data
            defaults = priors.data
            match(self.threshold, truths, defaults, self.variance, labels,
                  loc_t, conf_t, idx)
        if self.use_gpu:
            loc_t = loc_t.cuda()
            conf_t = conf_t.cuda()
        # wrap targets
        loc_t = Variable(loc_t, requires_grad=False)
        conf_t = Variable(conf_t, requires_grad=False)

        pos = conf_t > 0
        num_pos = pos.sum(dim=1, keepdim=True)

        # Localization Loss (Smooth L1)
        # Shape: [batch,num_priors,4]
        pos_idx = pos.unsqueeze(pos.dim()).expand_as(loc_data)
        loc_p = loc_data[pos_idx].view(-1, 4)
        loc_t = loc_t[pos_idx].view(-1, 4)
        loss_l = F.smooth_l1_loss(loc_p, loc_t, size_average=False)

        # Compute max conf across batch for hard negative mining
        batch_conf = conf_data.view(-1, self.num_classes)
        loss_c = log_sum_exp(batch_conf) - batch_conf.gather(1, conf_t.view(-1, 1))

        # Hard Negative Mining
        loss_c[pos.view(-1, 1)] = 0  # filter out pos boxes for now
        loss_c = loss_c.view(num, -1)
        _, loss_idx = loss_c.sort(1, descending=True)
        _, idx_rank = loss_idx.sort(1)
        num_pos = pos.long().sum(1, keepdim=True)
        num_neg = torch.clamp(self.negpos_ratio*num_pos, max=pos.size(1)-1)
        neg = idx_rank < num_neg.expand_as(idx_rank)

        # Confidence Loss Including Positive and Negative Examples
        pos_idx = pos.unsqueeze(2).expand_as(conf_data)
        neg_idx = neg.unsqueeze(2).expand_as(conf_data)
        conf_p = conf_data[(pos_idx+neg_idx).gt(0)].view(-1, self.num_classes)
        targets_weighted = conf_t[(pos+neg).gt(0)]
        loss_c = F.cross_entropy(conf_p, targets_weighted, size_average=False)

        # Sum of losses: L(x,c,l,g) = (Lconf(x, c) + αLloc(x,l,g)) / N

        N = num_pos.data.sum()
        loss_l /= N.float()
        loss_c /= N.float()
        return loss_l, loss_c


class SSD(nn.Module):
    """Stand-in for ssd.py's SSD: a small base net, then SSD's loc/conf heads and output layout."""

    def __init__(self, num_classes):
        super(SSD, self).__init__()
        self.num_classes = num_classes
        self.priors = priors_for()
        self.vgg = nn.ModuleList([nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.Conv2d(16, 32, 3, stride=2, padding=1),
                                  nn.Conv2d(32, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1),
                                  nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.Conv2d(64, 64, 3, padding=1)])
        with torch.no_grad():  # in place of vgg16_reducedfc.pth: a base that takes raw 0-255 pixels to O(1) features
            self.vgg[0].weight /= 128
        self.extras = nn.ModuleList([nn.Conv2d(64, 32, 1), nn.Conv2d(32, 64, 3, stride=2, padding=1)])
        self.loc = nn.ModuleList([nn.Conv2d(64, 4 * 4, 3, padding=1) for _ in range(2)])
        self.conf = nn.ModuleList([nn.Conv2d(64, 4 * num_classes, 3, padding=1) for _ in range(2)])

    def forward(self, x):
        sources = list()
        loc = list()
        conf = list()
        for k, v in enumerate(self.vgg):
            x = F.relu(v(x), inplace=True)
            if k < 2:
                x = F.max_pool2d(x, 2, ceil_mode=True)  # 300 -> 150 -> 75 -> 38 -> 19 -> 10
        sources.append(x)
        for k, v in enumerate(self.extras):
            x = F.relu(v(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)

        # apply multibox head to source layers
        for (x, l, c) in zip(sources, self.loc, self.conf):
            loc.append(l(x).permute(0, 2, 3, 1).contiguous())
            conf.append(c(x).permute(0, 2, 3, 1).contiguous())

        loc = torch.cat([o.view(o.size(0), -1) for o in loc], 1)
        conf = torch.cat([o.view(o.size(0), -1) for o in conf], 1)
        output = (
            loc.view(loc.size(0), -1, 4),
            conf.view(conf.size(0), -1, self.num_classes),
            self.priors
        )
        return output


def xavier(param):
    init.xavier_uniform(param)


def weights_init(m):
    if isinstance(m, nn.Conv2d):
        xavier(m.weight.data)
        m.bias.data.zero_()


def batches(n, g):
    """(images [1, 3, 300, 300] minus VOC's means, targets [[num_objs, 5]]: xmin, ymin, xmax, ymax, label)."""
    for _ in range(n):
        images = torch.rand(1, 3, 300, 300, generator=g) * 255 - torch.tensor(MEANS).view(1, 3, 1, 1)
        k = int(torch.randint(1, 4, (1,), generator=g))
        low = torch.rand(k, 2, generator=g) * 0.6
        size = 0.1 + torch.rand(k, 2, generator=g) * 0.3
        label = torch.randint(0, 20, (k, 1), generator=g).float()
        yield images, [torch.cat([low, low + size, label], 1)]


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    ssd_net = SSD(cfg['num_classes'])
    net = ssd_net
    # initialize newly added layers' weights with xavier method
    ssd_net.extras.apply(weights_init)
    ssd_net.loc.apply(weights_init)
    ssd_net.conf.apply(weights_init)
    optimizer = optim.SGD(net.parameters(), lr=3e-2, momentum=0.9,
                          weight_decay=5e-4)
    criterion = MultiBoxLoss(cfg['num_classes'], 0.5, True, 0, True, 3, 0.5,
                             False, False)
    writer = DiagWriter(logdir)
    writer.watch(net, optimizer)

    net.train()
    for iteration, (images, targets) in enumerate(batches(steps, torch.Generator().manual_seed(0))):
        images = Variable(images)
        targets = [Variable(ann, volatile=True) for ann in targets]
        # forward
        out = net(images)
        # backprop
        optimizer.zero_grad()
        loss_l, loss_c = criterion(out, targets)
        loss = loss_l + loss_c
        loss.backward()
        optimizer.step()
        writer.add_scalar("Loss", loss, iteration)  # train.py prints loss.item() and plots it in visdom
    writer.close()
